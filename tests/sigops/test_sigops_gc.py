"""Removing a model and collecting garbage frees its signatures too: referrers die with their subject."""

from __future__ import annotations

from modelcrate import api, signatures
from modelcrate.content import referrers
from modelcrate.content.layout import LocalStore
from modelcrate.config import Config
from modelcrate.signing import cosign
from modelcrate.format.mediatypes import ANN_REF_NAME
from tests.sigops.conftest import CREATED


def _refs(store: LocalStore) -> set[str]:
    return {e.annotation(ANN_REF_NAME) or "" for e in store.entries()}


def _blobs(store: LocalStore) -> set[str]:
    return {f"sha256:{p.name}" for p in (store.root / "blobs" / "sha256").iterdir()}


def test_rm_then_gc_drops_signatures_and_their_referrers(packed, ec_key, home) -> None:
    repo, desc = packed("team/m:1.0")
    store = repo.store
    signer = signatures.KeySigner(ec_key)
    result = signatures.sign(repo, desc, repo.name, signer, created=CREATED, cosign_legacy=True)
    # A referrer of a referrer: an attestation about the signature itself.
    sig_ref = result.stored[0].descriptor
    signatures.attest(repo, sig_ref, repo.name, signer, "https://example.com/review/v1", {"ok": True},
                      created=CREATED)
    assert referrers.fallback_tag(sig_ref.digest) in repo.tags()
    api.remove("team/m:1.0", config=Config(home))
    store.gc()
    assert not {r for r in _refs(store) if r.startswith("team/m:")}, "referrer tags outlived their subject"
    assert not _blobs(store), "signature, index and cosign blobs must all be freed"


def test_gc_keeps_referrers_of_a_live_subject(packed, ec_key, home) -> None:
    repo, desc = packed("team/m:1.0")
    other_repo, other = packed("team/other:1.0", files={"w.bin": b"other"})
    signer = signatures.KeySigner(ec_key)
    signatures.sign(repo, desc, repo.name, signer, created=CREATED, cosign_legacy=True)
    signatures.sign(other_repo, other, other_repo.name, signer, created=CREATED)
    api.remove("team/other:1.0", config=Config(home))
    repo.store.gc()
    verifier = signatures.KeyVerifier(ec_key.public_key())
    found = signatures.verify(repo, desc, repo.name, verifier)
    assert {v.kind for v in found} == {"bundle", "cosign"}
    assert cosign.signature_tag(desc.digest) in repo.tags()
    assert signatures.model_signature(repo, desc, verifier=verifier).verified
    assert not [t for t in other_repo.tags()], "the removed model's referrer tags are gone"


def test_gc_is_per_repository(packed, ec_key, home) -> None:
    """The same model in two repositories: removing it from one frees that one's signatures only."""
    repo_a, desc = packed("team/a:1.0")
    repo_b, desc_b = packed("team/b:1.0")
    assert desc.digest == desc_b.digest
    signer = signatures.KeySigner(ec_key)
    signatures.sign(repo_a, desc, repo_a.name, signer, created=CREATED)
    signatures.sign(repo_b, desc, repo_b.name, signer, created=CREATED)
    api.remove("team/a:1.0", config=Config(home))
    repo_a.store.gc()
    assert repo_a.tags() == []
    assert referrers.fallback_tag(desc.digest) in repo_b.tags()
    assert signatures.verify(repo_b, desc, repo_b.name, signatures.KeyVerifier(ec_key.public_key()))
