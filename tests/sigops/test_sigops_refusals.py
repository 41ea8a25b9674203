"""Verification fails closed: every way a signature can be wrong is refused, with the reason."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from modelcrate import signatures
from modelcrate.content import referrers
from modelcrate.content.memory import MemoryStore
from modelcrate.errors import SignatureError
from modelcrate.format.descriptor import Descriptor
from modelcrate.format.mediatypes import OCI_MANIFEST
from modelcrate.signing import bundle, cosign, keys
from modelcrate.signing import statement as st
from tests.signing.conftest import make_pki
from tests.support.artifacts import plain_manifest

from .conftest import CREATED, cert_signer, pem


@pytest.fixture
def signed(model, ec_key):
    repo, desc = model
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED)
    return repo, desc, signatures.KeyVerifier(ec_key.public_key())


def _bundle_referrer(repo, desc, predicate_type=st.SIGNATURE_V1):
    return next(r for r in referrers.list_referrers(repo, desc)
                if r.annotations.get(signatures.ANN_PREDICATE_TYPE) == predicate_type)


def _blob(repo, referrer) -> bytes:
    with repo.fetch(referrer.manifest.layers[0]) as f:
        return f.read()


def test_no_signature_at_all(model, ec_key) -> None:
    repo, desc = model
    with pytest.raises(SignatureError, match=r"^no signature found for team/m@sha256:") as info:
        signatures.verify(repo, desc, repo.name, signatures.KeyVerifier(ec_key.public_key()))
    assert "modelcrate sign" in info.value.diagnostics()
    assert info.value.exit_code == 5


def test_wrong_key(signed, other_key) -> None:
    repo, desc, _ = signed
    reason = r"no valid signature by key .* \(1 checked: sha256:.*the bundle names key"
    with pytest.raises(SignatureError, match=reason):
        signatures.verify(repo, desc, repo.name, signatures.KeyVerifier(other_key.public_key()))


def test_tampered_manifest_retagged_to_other_bytes(signed, packed) -> None:
    repo, desc, verifier = signed
    # Someone pushes other bytes and moves the tag: the signatures bind the old digest, not the tag.
    _other_repo, other = packed("team/m:1.0", files={"model.safetensors": b"evil" * 10, "config.json": b"{}"})
    tampered = repo.resolve("1.0")
    assert tampered == other and tampered != desc
    with pytest.raises(SignatureError, match="no signature found for team/m@" + tampered.digest):
        signatures.verify(repo, tampered, repo.name, verifier)
    # Copying the old referrers index under the new digest's tag does not help: each referrer's own
    # subject names the old manifest, and readers check it.
    old_index = repo.resolve(referrers.fallback_tag(desc.digest))
    repo.tag(old_index, referrers.fallback_tag(tampered.digest))
    with pytest.raises(SignatureError, match="no signature found"):
        signatures.verify(repo, tampered, repo.name, verifier)


def test_signature_for_another_digest(signed, packed) -> None:
    repo, desc, verifier = signed
    other_repo, other = packed("team/other:1.0", files={"model.safetensors": b"x" * 64, "config.json": b"{}"})
    # Re-attach the valid bundle as a referrer of another model: the referrer is well-formed, the signature
    # verifies, but the signed statement names the first digest.
    data = _blob(repo, _bundle_referrer(repo, desc))
    signatures._store_bundle(other_repo, other, data, st.SIGNATURE_V1, CREATED, "x.sigstore.json")
    with pytest.raises(SignatureError, match=f"signature is for {desc.digest}, not {other.digest}"):
        signatures.verify(other_repo, other, other_repo.name, verifier)


def test_bundle_with_swapped_payload(signed) -> None:
    repo, desc, verifier = signed
    ref = _bundle_referrer(repo, desc)
    doc = json.loads(_blob(repo, ref))
    other = st.build_statement([("team/m", {"sha256": desc.digest[7:]})], "signature", {"extra": "claim"})
    doc["dsseEnvelope"]["payload"] = base64.b64encode(other).decode()
    swapped = json.dumps(doc).encode()
    # Replace the store's referrers: only the forged bundle is left.
    store = MemoryStore("team/m")
    from modelcrate.graphcopy import copy_graph

    copy_graph(repo, store, desc)
    signatures._store_bundle(store, desc, swapped, st.SIGNATURE_V1, CREATED, "x.sigstore.json")
    with pytest.raises(SignatureError, match="signature does not verify"):
        signatures.verify(store, desc, store.name, verifier)


def test_predicate_type_mismatch(model, ec_key) -> None:
    repo, desc = model
    signer, verifier = signatures.KeySigner(ec_key), signatures.KeyVerifier(ec_key.public_key())
    # A validly signed evaluation statement, stored under a referrer that claims to be a signature.
    statement = st.build_statement([(repo.name, {"sha256": desc.digest[7:]})], "https://example.com/other/v1", {})
    signatures._store_bundle(repo, desc, signer.sign_statement(statement), st.SIGNATURE_V1, CREATED, "x")
    with pytest.raises(SignatureError, match="attestation is of type https://example.com/other/v1, not "
                                             "https://sigstore.dev/cosign/sign/v1"):
        signatures.verify(repo, desc, repo.name, verifier)
    # And asked for as the type it really is, it verifies.
    signatures.verify_attestation(repo, desc, repo.name, verifier, "https://example.com/other/v1")
    with pytest.raises(SignatureError, match="no https://slsa.dev/provenance/v1 attestation found"):
        signatures.verify_attestation(repo, desc, repo.name, verifier, "provenance")


def test_untrusted_chain(model, pki_chain) -> None:
    repo, desc = model
    signatures.sign(repo, desc, repo.name, cert_signer(pki_chain), created=CREATED, model_signing=False)
    stranger = make_pki()
    verifier = signatures.CAVerifier(pem(stranger.root), (pem(stranger.intermediate),), at_time=CREATED)
    with pytest.raises(SignatureError, match="does not chain to a trusted CA"):
        signatures.verify(repo, desc, repo.name, verifier)
    # A key policy does not accept a certificate-backed bundle signed by another key either.
    with pytest.raises(SignatureError, match="signature does not verify"):
        signatures.verify(repo, desc, repo.name, signatures.KeyVerifier(keys.generate().public_key()))


def test_expired_chain(model) -> None:
    now = dt.datetime.now(dt.UTC)
    pki = make_pki(leaf_not_before=now - dt.timedelta(days=30), leaf_not_after=now - dt.timedelta(days=1))
    repo, desc = model
    signatures.sign(repo, desc, repo.name, cert_signer(pki), created=CREATED, model_signing=False)
    verifier = signatures.CAVerifier(pem(pki.root), (pem(pki.intermediate),))  # at the current time
    with pytest.raises(SignatureError, match="signing certificate expired"):
        signatures.verify(repo, desc, repo.name, verifier)


def test_leaf_without_code_signing_usage(model) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    pki = make_pki(eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    repo, desc = model
    signatures.sign(repo, desc, repo.name, cert_signer(pki), created=CREATED, model_signing=False)
    verifier = signatures.CAVerifier(pem(pki.root), (pem(pki.intermediate),), at_time=CREATED)
    with pytest.raises(SignatureError, match="code signing"):
        signatures.verify(repo, desc, repo.name, verifier)


def test_cosign_legacy_refusals(model, ec_key, other_key, packed) -> None:
    repo, desc = model
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED, cosign_legacy=True)
    with pytest.raises(SignatureError, match="cosign signature does not verify"):
        signatures.verify(repo, desc, repo.name, signatures.KeyVerifier(other_key.public_key()))
    # The .sig image of one model tagged onto another: the payload names the first digest.
    _other_repo, other = packed("team/m:2.0", files={"model.safetensors": b"2" * 64, "config.json": b"{}"})
    sig = repo.resolve(cosign.signature_tag(desc.digest))
    repo.tag(sig, cosign.signature_tag(other.digest))
    with pytest.raises(SignatureError, match=f"signature is for {desc.digest}, not {other.digest}"):
        signatures.verify(repo, other, repo.name, signatures.KeyVerifier(ec_key.public_key()))
    # PKI and keyless policies do not judge legacy signatures; they say so.
    pki = make_pki()
    with pytest.raises(SignatureError, match="cosign legacy signatures are checked with a public key only"):
        signatures.verify(repo, other, repo.name, signatures.CAVerifier(pem(pki.root), at_time=CREATED))


def test_index_entries_are_hints_only(signed) -> None:
    repo, desc, verifier = signed
    store = MemoryStore("x")
    subject = plain_manifest(store)
    # List model A's signature referrer under subject B: its own subject says A, so it is dropped.
    from modelcrate.graphcopy import copy_graph

    sig = _bundle_referrer(repo, desc)
    copy_graph(repo, store, sig.descriptor)
    referrers.register(store, subject, sig.descriptor)
    with pytest.raises(SignatureError, match="no signature found"):
        signatures.verify(store, subject, "x", verifier)


def test_malformed_referrers_are_reported_not_trusted(model, ec_key) -> None:
    repo, desc = model
    verifier = signatures.KeyVerifier(ec_key.public_key())
    # A referrer claiming to be a signature whose layer is garbage.
    referrers.attach(repo, desc, artifact_type=signatures.BUNDLE_MEDIA_TYPE, blob=b"not json",
                     blob_media_type=signatures.BUNDLE_MEDIA_TYPE,
                     annotations={signatures.ANN_PREDICATE_TYPE: st.SIGNATURE_V1})
    with pytest.raises(SignatureError, match=r"no valid signature .*1 checked: .*bundle is not valid JSON"):
        signatures.verify(repo, desc, repo.name, verifier)
    # A bundle whose statement is not even JSON-valid in-toto, signed correctly.
    env = bundle.sign_envelope(b'{"_type": "nope"}', ec_key)
    raw = bundle.assemble_bundle({"publicKey": {"hint": "x"}, "tlogEntries": []}, env)
    signatures._store_bundle(repo, desc, raw, st.SIGNATURE_V1, CREATED, "y")
    with pytest.raises(SignatureError, match="2 checked"):
        signatures.verify(repo, desc, repo.name, verifier)


def test_dangling_bundle_blob(model, ec_key) -> None:
    repo, desc = model
    store = MemoryStore("team/m")
    from modelcrate.graphcopy import copy_graph

    copy_graph(repo, store, desc)
    signatures.sign(store, desc, store.name, signatures.KeySigner(ec_key), created=CREATED, model_signing=False)
    ref = _bundle_referrer(store, desc)
    del store.blobs[ref.manifest.layers[0].digest]
    with pytest.raises(SignatureError, match="is missing"):
        signatures.verify(store, desc, store.name, signatures.KeyVerifier(ec_key.public_key()))


def test_one_good_signature_among_bad_ones_passes(signed, other_key) -> None:
    repo, desc, verifier = signed
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(other_key), created=CREATED, model_signing=False)
    found = signatures.verify(repo, desc, repo.name, verifier)
    assert len(found) == 1  # the other key's signature is not "verified" by this key
    both = signatures.AnyOf((verifier, signatures.KeyVerifier(other_key.public_key())))
    assert len(signatures.verify(repo, desc, repo.name, both)) == 2


def test_model_signature_refusals(model, ec_key, packed) -> None:
    repo, desc = model
    with pytest.raises(SignatureError, match="no model-signing"):
        signatures.model_signature(repo, desc)
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED)
    with pytest.raises(SignatureError, match="no model-signing .*does not verify"):
        signatures.model_signature(repo, desc, verifier=signatures.KeyVerifier(keys.generate().public_key()))
    # An OMS bundle for other files, stored under this model, is never chosen.
    other_repo, other = packed("team/o:1.0", files={"a.bin": b"a", "config.json": b"{}"})
    signatures.sign(other_repo, other, other_repo.name, signatures.KeySigner(ec_key), created=CREATED)
    oms_ref = _bundle_referrer(other_repo, other, signatures.OMS_PREDICATE_TYPE)
    store = MemoryStore("team/m")
    from modelcrate.graphcopy import copy_graph

    copy_graph(repo, store, desc)
    signatures._store_bundle(store, desc, _blob(other_repo, oms_ref), signatures.OMS_PREDICATE_TYPE, CREATED, "m")
    with pytest.raises(SignatureError, match="model is missing signed files"):
        signatures.model_signature(store, desc)


def test_subject_descriptor_with_unknown_digest(ec_key) -> None:
    store = MemoryStore("x")
    ghost = Descriptor(OCI_MANIFEST, "sha256:" + "0" * 64, 2)
    with pytest.raises(SignatureError, match="no signature found"):
        signatures.verify(store, ghost, "x", signatures.KeyVerifier(ec_key.public_key()))
    assert signatures.discover(store, ghost) == []
