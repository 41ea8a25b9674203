"""Golden bytes: the signature referrer manifest, and cosign's legacy signature image at ``sha256-<hex>.sig``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from modelcrate import signatures
from modelcrate.content.memory import MemoryStore
from modelcrate.format.descriptor import Descriptor
from modelcrate.signing import cosign, keys
from tests.signing.conftest import (
    GOLDEN,
    GOLDEN_DIGEST,
    GOLDEN_SUBJECT,
    golden_ed25519_key,
)

SIGNING_GOLDEN = GOLDEN

GOLDEN = Path(__file__).resolve().parent / "golden"  # this folder's golden files
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
SUBJECT = Descriptor("application/vnd.oci.image.manifest.v1+json", GOLDEN_DIGEST, 1234)


def test_golden_signature_referrer() -> None:
    """Ed25519 signatures are deterministic, so the referrer manifest and its bundle are fixed bytes."""
    store = MemoryStore(GOLDEN_SUBJECT)
    subject = Descriptor("application/vnd.oci.image.manifest.v1+json", GOLDEN_DIGEST, 3393)
    result = signatures.sign(store, subject, GOLDEN_SUBJECT, signatures.KeySigner(golden_ed25519_key()),
                             created=WHEN, model_signing=False)
    raw = store.blobs[result.stored[0].descriptor.digest]
    assert raw == (GOLDEN / "signature-referrer-manifest.json").read_bytes()
    layer = json.loads(raw)["layers"][0]
    # The layer is exactly the golden bundle of the pure signing layer.
    assert store.blobs[layer["digest"]] == (SIGNING_GOLDEN / "bundle-ed25519.json").read_bytes()


def _image(store: MemoryStore) -> tuple[bytes, bytes]:
    desc = store.resolve(cosign.signature_tag(GOLDEN_DIGEST))
    raw = store.blobs[desc.digest]
    return raw, store.blobs[json.loads(raw)["config"]["digest"]]


def test_golden_signature_image() -> None:
    store = MemoryStore(GOLDEN_SUBJECT)
    stored = signatures.write_cosign_signature(store, SUBJECT, GOLDEN_SUBJECT,
                                               signatures.KeySigner(golden_ed25519_key()), created=WHEN)
    manifest, config = _image(store)
    assert manifest == (GOLDEN / "cosign-signature-manifest.json").read_bytes()
    assert config == (GOLDEN / "cosign-signature-config.json").read_bytes()
    assert stored.tag == f"sha256-{GOLDEN_DIGEST[7:]}.sig" and stored.kind == "cosign-legacy"
    layer = json.loads(manifest)["layers"][0]
    payload = store.blobs[layer["digest"]]
    assert payload == cosign.simple_signing_payload(GOLDEN_SUBJECT, GOLDEN_DIGEST)
    assert payload.endswith(b'"optional":null}')
    cosign.verify_payload(payload, layer["annotations"], golden_ed25519_key().public_key(), digest=GOLDEN_DIGEST,
                          docker_reference=GOLDEN_SUBJECT)


def test_second_signer_appends_and_same_signer_does_not_duplicate() -> None:
    store = MemoryStore(GOLDEN_SUBJECT)
    first, second = signatures.KeySigner(golden_ed25519_key()), signatures.KeySigner(keys.generate())
    signatures.write_cosign_signature(store, SUBJECT, GOLDEN_SUBJECT, first, created=WHEN)
    signatures.write_cosign_signature(store, SUBJECT, GOLDEN_SUBJECT, second, created=WHEN)
    signatures.write_cosign_signature(store, SUBJECT, GOLDEN_SUBJECT, first, created=WHEN)  # deterministic: same
    manifest, config = _image(store)
    layers = json.loads(manifest)["layers"]
    assert len(layers) == 2 and len({layer["digest"] for layer in layers}) == 1  # one payload, two signatures
    doc = json.loads(config)
    assert doc["rootfs"]["diff_ids"] == [layers[0]["digest"]] * 2 and len(doc["history"]) == 2
    for signer in (first, second):
        found = signatures.verify(store, SUBJECT, GOLDEN_SUBJECT, signatures.KeyVerifier(signer.key.public_key()))
        assert [(v.kind, v.signed_name) for v in found] == [("cosign", GOLDEN_SUBJECT)]


def test_certificate_signer_writes_cosign_certificate_annotations(pki_chain) -> None:
    from .conftest import cert_signer

    store = MemoryStore(GOLDEN_SUBJECT)
    signatures.write_cosign_signature(store, SUBJECT, GOLDEN_SUBJECT, cert_signer(pki_chain), created=WHEN)
    manifest, _config = _image(store)
    annotations = json.loads(manifest)["layers"][0]["annotations"]
    assert annotations["dev.sigstore.cosign/certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert annotations["dev.sigstore.cosign/chain"].count("BEGIN CERTIFICATE") == 1
    assert set(annotations) == {"dev.cosignproject.cosign/signature", "dev.sigstore.cosign/certificate",
                                "dev.sigstore.cosign/chain"}
    (node,) = signatures.discover(store, SUBJECT)
    assert node.kind == "cosign-signature" and node.signer == "1 cosign signature(s) by certificate"


def test_builders_match_go_encoding() -> None:
    config = cosign.signature_config(["sha256:" + "a" * 64, "sha256:" + "b" * 64], "2026-01-02T03:04:05.5Z")
    assert config.count(b'{"created":"0001-01-01T00:00:00Z"}') == 2
    assert json.loads(config)["created"] == "2026-01-02T03:04:05.5Z"
    manifest = cosign.signature_manifest((1, "sha256:" + "c" * 64), [(2, "sha256:" + "a" * 64, {"k": "<&>"})])
    assert b'"annotations":{"k":"\\u003c\\u0026\\u003e"}' in manifest
    assert list(json.loads(manifest)) == ["schemaVersion", "mediaType", "config", "layers"]
