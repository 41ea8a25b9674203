"""Sign and verify through the operations layer, one round trip per signing method, on the local store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcrate import api, signatures
from modelcrate.content import referrers
from modelcrate.content.memory import MemoryStore
from modelcrate.graphcopy import copy
from modelcrate.errors import SignatureError
from modelcrate.format.mediatypes import ANN_CREATED
from modelcrate.settings import Settings
from modelcrate.signing import keys, oms
from modelcrate.signing import statement as st
from tests.signing.conftest import SIGSTORE
from tests.support.artifacts import plain_manifest

from .conftest import CREATED, cert_signer, pem


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072"])
def test_key_round_trip(model, algorithm: str) -> None:
    repo, desc = model
    key = keys.generate(algorithm)
    result = signatures.sign(repo, desc, repo.name, signatures.KeySigner(key), created=CREATED)
    found = signatures.verify(repo, desc, repo.name, signatures.KeyVerifier(key.public_key()))
    # The signature predicate states no time: the referrer's creation annotation is only a claim.
    assert [(v.kind, v.predicate_type, v.signed_name, v.created, v.claimed_created) for v in found] == [
        ("bundle", st.SIGNATURE_V1, "team/m", None, "2026-03-01T12:00:00Z")]
    assert found[0].signer == f"key {keys.key_hint(key)[:16]}"
    kinds = [s.kind for s in result.stored]
    if algorithm.startswith("ecdsa"):
        assert kinds == ["signature", "model-signing"] and result.notes == ()
    else:  # OMS verifiers take EC keys only: skipped, and the note says why
        assert kinds == ["signature"]
        assert "ECDSA" in " ".join(result.notes)


def test_referrer_manifest_follows_the_bundle_spec(model, ec_key) -> None:
    repo, desc = model
    result = signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED)
    ref = referrers.list_referrers(repo, desc)
    by_digest = {r.descriptor.digest: r for r in ref}
    sig = by_digest[result.stored[0].descriptor.digest]
    assert sig.manifest.artifact_type == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert sig.manifest.config.media_type == "application/vnd.oci.empty.v1+json"
    assert sig.manifest.subject.digest == desc.digest
    assert sig.annotations == {"dev.sigstore.bundle.content": "dsse-envelope",
                               "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
                               ANN_CREATED: "2026-03-01T12:00:00Z"}
    (layer,) = sig.manifest.layers
    assert layer.media_type == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert layer.annotation("org.opencontainers.image.title") == f"sha256-{desc.digest[7:]}.sigstore.json"
    with repo.fetch(layer) as f:
        bundle_doc = json.loads(f.read())
    assert bundle_doc["verificationMaterial"] == {"publicKey": {"hint": keys.key_hint(ec_key)}, "tlogEntries": []}
    statement = json.loads(__import__("base64").b64decode(bundle_doc["dsseEnvelope"]["payload"]))
    assert statement["subject"] == [{"name": "team/m", "digest": {"sha256": desc.digest[7:]}}]
    assert statement["predicate"] == {}
    oms_ref = by_digest[result.stored[1].descriptor.digest]
    assert oms_ref.annotations["dev.sigstore.bundle.predicateType"] == oms.OMS_PREDICATE_TYPE
    assert oms_ref.manifest.layers[0].annotation("org.opencontainers.image.title") == "model.sig"
    # The fallback index copies artifactType and every annotation into its entries.
    index = repo.resolve(referrers.fallback_tag(desc.digest))
    with repo.fetch(index) as f:
        entries = json.loads(f.read())["manifests"]
    entry = next(e for e in entries if e["digest"] == sig.descriptor.digest)
    assert entry["artifactType"] == sig.manifest.artifact_type and entry["annotations"] == sig.annotations


def test_oms_bundle_is_built_from_layer_digests(model, ec_key) -> None:
    repo, desc = model
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED)
    view = api.inspect("team/m:1.0")
    files = [(f.path, f.descriptor.digest[7:]) for f in view.files]
    found = signatures.model_signature(repo, desc, verifier=signatures.KeyVerifier(ec_key.public_key()))
    assert found.verified
    oms.verify_oms(found.data, ec_key.public_key(), files)
    statement = json.loads(oms_payload(found.data))
    assert statement["subject"][0]["name"] == "m"  # the repository's last component, like a directory name


def oms_payload(data: bytes) -> bytes:
    from modelcrate.signing import bundle

    return bundle.unverified_statement_of(data)


def test_tar_layers_go_into_oms_ignore_paths(packed, ec_key) -> None:
    repo, desc = packed("team/tok:1.0", files={"model.safetensors": b"w" * 100, "tokenizer/vocab.txt": b"a b c",
                                               "tokenizer/merges.txt": b"ab"}, archive=("tokenizer",))
    result = signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED)
    assert any("tokenizer" in n and "tar" in n for n in result.notes)
    statement = json.loads(oms_payload(signatures.model_signature(repo, desc).data))
    assert statement["predicate"]["serialization"]["ignore_paths"][0] == "tokenizer"
    assert [r["name"] for r in statement["predicate"]["resources"]] == ["model.safetensors"]


def test_x509_round_trip_with_intermediate(model, pki_chain) -> None:
    repo, desc = model
    signer = cert_signer(pki_chain)
    result = signatures.sign(repo, desc, repo.name, signer, created=CREATED)
    verifier = signatures.CAVerifier(pem(pki_chain.root), (pem(pki_chain.intermediate),), at_time=CREATED)
    (found,) = signatures.verify(repo, desc, repo.name, verifier)
    assert found.signer == "certificate CN=model signer"
    # The bundle carries the leaf only; without the intermediate the chain cannot be built.
    with pytest.raises(SignatureError, match="does not chain to a trusted CA"):
        signatures.verify(repo, desc, repo.name, signatures.CAVerifier(pem(pki_chain.root), at_time=CREATED))
    # The OMS bundle carries leaf + intermediates (x509CertificateChain), as model-signing expects.
    oms_bundle = signatures.model_signature(repo, desc, verifier=verifier).data
    chain = json.loads(oms_bundle)["verificationMaterial"]["x509CertificateChain"]["certificates"]
    assert len(chain) == 2 and [s.kind for s in result.stored] == ["signature", "model-signing"]
    assert signatures.describe_bundle_signer(oms_bundle) == "certificate CN=model signer"


def test_ca_verifier_uses_the_current_time_by_default(model) -> None:
    import datetime as dt

    from tests.signing.conftest import make_pki

    now = dt.datetime.now(dt.UTC)
    pki = make_pki(leaf_not_before=now - dt.timedelta(days=1), leaf_not_after=now + dt.timedelta(days=1))
    repo, desc = model
    signatures.sign(repo, desc, repo.name, cert_signer(pki), created=CREATED, model_signing=False)
    signatures.verify(repo, desc, repo.name, signatures.CAVerifier(pem(pki.root), (pem(pki.intermediate),)))


def test_attestations_round_trip(model, ec_key) -> None:
    repo, desc = model
    signer, verifier = signatures.KeySigner(ec_key), signatures.KeyVerifier(ec_key.public_key())
    view = api.inspect("team/m:1.0")
    from modelcrate import provenance

    predicate = provenance.build_provenance(view.metadata or {}, git=None, ci={}, tools={"modelcrate": "0"})
    signatures.attest(repo, desc, repo.name, signer, "provenance", predicate, created=CREATED)
    evaluation = {"created": "2026-03-01T00:00:00Z",
                  "metrics": [{"name": "accuracy", "value": 0.9, "dataset": "d", "split": "test"}]}
    signatures.attest(repo, desc, repo.name, signer, "evaluation", evaluation, created=CREATED)
    signatures.attest(repo, desc, repo.name, signer, "https://example.com/review/v1", {"ok": True}, created=CREATED)
    (prov,) = signatures.verify_attestation(repo, desc, repo.name, verifier, "provenance")
    assert prov.statement.predicate == predicate
    (ev,) = signatures.verify_attestation(repo, desc, repo.name, verifier, st.EVALUATION_V1)
    assert ev.statement.predicate["metrics"][0]["value"] == 0.9
    (custom,) = signatures.verify_attestation(repo, desc, repo.name, verifier, "https://example.com/review/v1")
    assert custom.statement.predicate == {"ok": True}
    # An attestation is not a signature: verify (sign/v1) still finds none.
    with pytest.raises(SignatureError, match="no signature found"):
        signatures.verify(repo, desc, repo.name, verifier)


def test_attest_refuses_malformed_known_predicates(model, ec_key) -> None:
    from modelcrate.errors import UsageError

    repo, desc = model
    signer = signatures.KeySigner(ec_key)
    with pytest.raises(UsageError, match="invalid predicate"):
        signatures.attest(repo, desc, repo.name, signer, "provenance", {"buildDefinition": {}}, created=CREATED)
    with pytest.raises(UsageError, match="use `modelcrate sign`"):
        signatures.attest(repo, desc, repo.name, signer, "signature", {}, created=CREATED)
    assert referrers.list_referrers(repo, desc) == []


def test_evaluation_from_metadata() -> None:
    from modelcrate.errors import UsageError

    meta = {"metrics": [{"name": "f1", "value": 0.5, "dataset": "toy", "split": "test"}]}
    assert signatures.evaluation_from_metadata(meta, created=CREATED)["metrics"] == meta["metrics"]
    with pytest.raises(UsageError, match="no metrics"):
        signatures.evaluation_from_metadata({}, created=CREATED)


def test_discover_tree(model, ec_key, pki_chain) -> None:
    repo, desc = model
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED, cosign_legacy=True)
    stored = signatures.attest(repo, desc, repo.name, signatures.KeySigner(ec_key), "https://example.com/x/v1",
                               {"a": 1}, created=CREATED)
    # A signature of the attestation itself: a referrer of a referrer.
    signatures.sign(repo, stored.descriptor, repo.name, cert_signer(pki_chain), created=CREATED)
    nodes = signatures.discover(repo, desc)
    kinds = sorted(n.kind for n in nodes)
    assert kinds == ["attestation", "cosign-signature", "model-signing", "signature"]
    att = next(n for n in nodes if n.kind == "attestation")
    assert att.predicate_type == "https://example.com/x/v1" and att.created == "2026-03-01T12:00:00Z"
    assert [(c.kind, c.signer) for c in att.children] == [("signature", "certificate CN=model signer")]
    legacy = next(n for n in nodes if n.kind == "cosign-signature")
    assert legacy.tag == f"sha256-{desc.digest[7:]}.sig"
    json.dumps([n.to_dict() for n in nodes])  # serialisable as is


def test_keyless_verification_through_referrers(tmp_path: Path, sigstore_dirs) -> None:
    """A recorded keyless DSSE bundle (staging, Rekor v2) stored as a referrer verifies end to end.

    Its statement is about ``a.txt`` (sha256 a0cfc712…), so the subject here is a descriptor with that
    digest: the path is the one a keyless-signed model takes, offline against a recorded trust root.
    """
    from modelcrate.format.descriptor import Descriptor

    data = (SIGSTORE / "valid" / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    digest = "sha256:" + st.parse_statement(oms_payload(data), require_predicate=False).subjects[0].digest["sha256"]
    store = MemoryStore("beacon")
    subject = Descriptor("application/vnd.oci.image.manifest.v1+json", digest, 1)
    signatures._store_bundle(store, subject, data, st.SLSA_PROVENANCE_V1, CREATED, "a.sigstore.json")
    identity = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
                "extremely-dangerous-oidc-beacon.yml@refs/heads/main")
    issuer = "https://token.actions.githubusercontent.com"
    staging = SIGSTORE / "trust-roots" / "staging" / "trusted_root.json"
    verifier = signatures.KeylessVerifier(identity, issuer, staging)
    (found,) = signatures.verify_attestation(store, subject, "beacon", verifier, "provenance")
    assert found.signer == f"keyless {identity} ({issuer})" and found.signed_name == "a.txt"
    (node,) = signatures.discover(store, subject)
    assert node.signer == f"keyless {identity} ({issuer})"
    with pytest.raises(SignatureError, match="keyless verification failed"):
        signatures.verify_attestation(store, subject, "beacon",
                                      signatures.KeylessVerifier("mallory@example.com", issuer, staging), "provenance")
    with pytest.raises(SignatureError, match="keyless verification failed"):
        signatures.verify_attestation(store, subject, "beacon",
                                      signatures.KeylessVerifier(identity, "https://accounts.google.com", staging),
                                      "provenance")
    # The default trust root is the shipped production one, which did not issue this staging certificate.
    with pytest.raises(SignatureError):
        signatures.verify_attestation(store, subject, "beacon", signatures.KeylessVerifier(identity, issuer),
                                      "provenance")


def test_signatures_survive_copy_and_retag(model, ec_key, tmp_path: Path, home: Path) -> None:
    repo, desc = model
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED, cosign_legacy=True)
    verifier = signatures.KeyVerifier(ec_key.public_key())
    # Retag within the repository and into another name of the local store.
    api.tag("team/m:1.0", "team/m:production", config=Settings(home))
    api.tag("team/m:1.0", "registry.example.com/prod/m:1.0", config=Settings(home))
    for ref in ("team/m:production", "registry.example.com/prod/m:1.0"):
        r, target, d = api.resolve_local(ref, Settings(home))
        assert d == desc
        found = signatures.verify(target, d, r.name, verifier)
        assert {v.kind for v in found} == {"bundle", "cosign"}
    # Copy to another Target; the statement still names the original repository (reported, not enforced).
    mem = MemoryStore("elsewhere/m")
    copy(repo, "1.0", mem, "2.0")
    found = signatures.verify(mem, mem.resolve("2.0"), mem.name, verifier)
    assert {v.signed_name for v in found} == {"team/m"}
    assert signatures.model_signature(mem, desc).referrer


def test_sign_of_a_non_model_skips_oms(tmp_path: Path, ec_key) -> None:
    store = MemoryStore("x")
    desc = plain_manifest(store)
    result = signatures.sign(store, desc, "x", signatures.KeySigner(ec_key), created=CREATED)
    assert [s.kind for s in result.stored] == ["signature"]
    assert "not a model manifest" in result.notes[0]


def test_key_signer_checks_cert_and_password(pki_chain, ec_key) -> None:
    from modelcrate.errors import UsageError

    with pytest.raises(UsageError, match="another key"):
        signatures.KeySigner.from_pem(keys.private_pem(ec_key, b"pw"), b"pw", cert=pem(pki_chain.leaf))
    with pytest.raises(UsageError, match="wrong password"):
        signatures.KeySigner.from_pem(keys.private_pem(ec_key, b"pw"), b"nope")
    with pytest.raises(UsageError, match="chain needs the signing certificate"):
        signatures.KeySigner.from_pem(keys.private_pem(ec_key, b"pw"), b"pw", chain=pem(pki_chain.root))
    signer = signatures.KeySigner.from_pem(keys.private_pem(ec_key, b"pw"), b"pw")
    assert "pw" not in repr(signer) and "BEGIN" not in repr(signer)


def test_keyless_signer_fails_cleanly_offline(model) -> None:
    from modelcrate.errors import UsageError

    repo, desc = model
    token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2VjcmV0LXRva2Vu"  # not a usable token
    signer = signatures.KeylessSigner(token)
    assert token not in repr(signer)
    with pytest.raises(SignatureError) as info:
        signatures.sign(repo, desc, repo.name, signer, created=CREATED)
    assert token not in str(info.value) and token not in info.value.diagnostics()
    with pytest.raises(UsageError, match="cosign legacy signatures need a private key"):
        signatures.sign(repo, desc, repo.name, signer, created=CREATED, cosign_legacy=True)
    assert referrers.list_referrers(repo, desc) == []
    with pytest.raises(UsageError, match="SIGSTORE_ID_TOKEN"):
        signatures.identity_token({}, interactive=False)
    assert signatures.identity_token({"SIGSTORE_ID_TOKEN": "t"}) == "t"
