"""Hostile referrers: floods, dangling and wrong-size entries, junk at the fallback tag. Verification stays
correct and bounded: it opens only what the listing says could match, and notes what it passed over."""

from __future__ import annotations

import io
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

import pytest

from modelcrate import signatures
from modelcrate.content import referrers
from modelcrate.content.layout import LocalRepository
from modelcrate.errors import SignatureError
from modelcrate.format import digest as _digest
from modelcrate.format.descriptor import Descriptor, build_index, build_manifest
from modelcrate.format.mediatypes import EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from modelcrate.signing import statement as st

from .conftest import CREATED
from .test_sigops_registry import pushed, remote, repo_name  # noqa: F401 - fixtures

JUNK_TYPE = "https://example.com/junk/v1"


class Counting:
    """A real local repository that records which digests were fetched (opened)."""

    def __init__(self, repo: LocalRepository) -> None:
        self._repo = repo
        self.name = repo.name
        self.fetched: list[str] = []

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._repo, attr)

    def fetch(self, desc: Descriptor) -> AbstractContextManager[BinaryIO]:
        self.fetched.append(desc.digest)
        return self._repo.fetch(desc)


def _junk(repo: LocalRepository, subject: Descriptor, n: int, *, artifact_type: str,
          predicate_type: str | None) -> list[Descriptor]:
    """``n`` referrer manifests of ``subject`` (pushed, not listed) with a junk bundle layer each."""
    out = []
    repo.push(Descriptor.of(OCI_EMPTY, EMPTY_JSON), io.BytesIO(EMPTY_JSON))
    annotations = {signatures.ANN_PREDICATE_TYPE: predicate_type} if predicate_type else {}
    for i in range(n):
        blob = b'{"junk": %d}' % i
        raw, blob_desc = referrers.build_referrer(subject, artifact_type=artifact_type, blob=blob,
                                                  blob_media_type=signatures.BUNDLE_MEDIA_TYPE,
                                                  annotations={**annotations, "n": str(i)})
        repo.push(blob_desc, io.BytesIO(blob))
        desc = Descriptor(OCI_MANIFEST, _digest.of(raw), len(raw), {**annotations, "n": str(i)} or None,
                          artifact_type)
        repo.push(desc, io.BytesIO(raw))
        out.append(desc)
    return out


def _list(repo: LocalRepository, subject: Descriptor, extra: list[Descriptor]) -> None:
    """Put ``extra`` entries in front of the fallback index's own entries, in one write."""
    tag = referrers.fallback_tag(subject.digest)
    try:
        current = referrers._index_entries(repo, repo.resolve(tag), tag)
    except Exception:  # noqa: BLE001 - absent
        current = []
    raw = build_index([*extra, *current])
    desc = Descriptor(OCI_INDEX, _digest.of(raw), len(raw))
    repo.push(desc, io.BytesIO(raw))
    repo.tag(desc, tag)


@pytest.mark.slow
def test_flood_of_junk_opens_only_the_matching_candidate(model, ec_key) -> None:
    repo, desc = model
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED, model_signing=False)
    junk = (_junk(repo, desc, 250, artifact_type="application/vnd.example.junk", predicate_type=None)
            + _junk(repo, desc, 250, artifact_type=signatures.BUNDLE_MEDIA_TYPE, predicate_type=JUNK_TYPE))
    _list(repo, desc, junk)
    counting = Counting(repo)
    found = signatures.verify(counting, desc, repo.name, signatures.KeyVerifier(ec_key.public_key()))
    assert len(found) == 1 and found[0].kind == "bundle"
    assert not set(counting.fetched) & {j.digest for j in junk}, "junk referrers were opened"
    # The index, the one signature manifest and its bundle: nothing else.
    assert len(counting.fetched) == 3, counting.fetched


def test_collect_records_skips_dangling_wrong_size_and_duplicate_entries(model, ec_key) -> None:
    repo, desc = model
    signer, verifier = signatures.KeySigner(ec_key), signatures.KeyVerifier(ec_key.public_key())
    stored = signatures.sign(repo, desc, repo.name, signer, created=CREATED, model_signing=False).stored[0]
    labels = {signatures.ANN_PREDICATE_TYPE: signatures.SIGNATURE_TYPE}
    dangling = Descriptor(OCI_MANIFEST, "sha256:" + "0" * 64, 100, labels, signatures.BUNDLE_MEDIA_TYPE)
    real = stored.descriptor
    wrong_size = Descriptor(OCI_MANIFEST, real.digest, real.size + 7, labels, signatures.BUNDLE_MEDIA_TYPE)
    _list(repo, desc, [dangling, wrong_size, real])  # real is also listed once more by sign itself
    counting = Counting(repo)
    collected = signatures.collect_records(counting, desc, repo.name, verifier, predicate_type="signature")
    assert [r.descriptor.digest for r in collected.records] == [real.digest]
    assert collected.rejected == []
    assert len(collected.skipped) == 2 and all("listed referrer" in s for s in collected.skipped)
    # Listed twice with its true size (by sign and above): opened once; the wrong-size claim once more.
    assert counting.fetched.count(real.digest) == 2
    record = collected.records[0]
    assert record.predicate_type == st.SIGNATURE_V1 and record.predicate == {}
    assert record.signer == verifier.describe() and record.bundle_digest.startswith("sha256:")


def test_non_index_at_the_fallback_tag_is_noted_not_fatal(model, ec_key) -> None:
    repo, desc = model
    signer, verifier = signatures.KeySigner(ec_key), signatures.KeyVerifier(ec_key.public_key())
    signatures.sign(repo, desc, repo.name, signer, created=CREATED, model_signing=False, cosign_legacy=True)
    # Someone with write access puts a plain manifest at sha256-<hex>: the bundle is no longer listed,
    # but the cosign signature still verifies, and the junk is reported, not raised.
    raw = build_manifest(Descriptor.of(OCI_EMPTY, EMPTY_JSON), [])
    junk = Descriptor(OCI_MANIFEST, _digest.of(raw), len(raw))
    repo.push(junk, io.BytesIO(raw))
    repo.tag(junk, referrers.fallback_tag(desc.digest))
    found = signatures.verify(repo, desc, repo.name, verifier)
    assert [v.kind for v in found] == ["cosign"]
    collected = signatures.collect_records(repo, desc, repo.name, verifier, predicate_type="signature")
    assert collected.records == [] and len(collected.skipped) == 1
    assert "ignored the referrers tag" in collected.skipped[0]
    # Without any valid signature the refusal says what was ignored.
    with pytest.raises(SignatureError, match="no provenance|ignored the referrers tag"):
        signatures.verify_attestation(repo, desc, repo.name, verifier, "provenance")


def test_budget_bounds_what_is_opened_and_says_so(model, ec_key) -> None:
    repo, desc = model
    verifier = signatures.KeyVerifier(ec_key.public_key())
    # Junk that claims exactly the wanted type: each must be opened to be refused, so the budget bites.
    junk = _junk(repo, desc, 20, artifact_type=signatures.BUNDLE_MEDIA_TYPE, predicate_type=st.SIGNATURE_V1)
    _list(repo, desc, junk)
    counting = Counting(repo)
    collected = signatures.collect_records(counting, desc, repo.name, verifier, predicate_type="signature",
                                           budget=signatures.Budget(referrers=5))
    assert collected.records == [] and len(collected.rejected) == 5
    assert len(set(counting.fetched) & {j.digest for j in junk}) == 5
    assert any("15 candidate referrer(s) not opened: over the budget" in s for s in collected.skipped)
    # A byte budget bites the same way.
    small = signatures.collect_records(repo, desc, repo.name, verifier, predicate_type="signature",
                                       budget=signatures.Budget(bytes=2 * junk[0].size))
    assert len(small.rejected) <= 2 and any("over the budget" in s for s in small.skipped)


def test_mislabelled_record_is_still_found_when_nothing_else_matches(model, ec_key) -> None:
    repo, desc = model
    signer, verifier = signatures.KeySigner(ec_key), signatures.KeyVerifier(ec_key.public_key())
    statement = st.build_statement([(repo.name, {"sha256": desc.digest[7:]})], "https://example.com/review/v1",
                                   {"ok": True})
    signatures._store_bundle(repo, desc, signer.sign_statement(statement), JUNK_TYPE, CREATED, "r")
    collected = signatures.collect_records(repo, desc, repo.name, verifier,
                                           predicate_type="https://example.com/review/v1")
    assert [r.predicate for r in collected.records] == [{"ok": True}]


def test_discover_survives_cycles_and_stops_at_its_depth(model, ec_key) -> None:
    repo, desc = model
    signer = signatures.KeySigner(ec_key)
    subject = desc
    chain = []
    for level in range(6):  # a referrer of a referrer of ..., six deep
        stored = signatures.attest(repo, subject, repo.name, signer, "https://example.com/note/v1",
                                   {"level": level}, created=CREATED)
        chain.append(stored.descriptor)
        subject = stored.descriptor
    # A hostile index lists the model as a referrer of its own deepest referrer: a cycle.
    _list(repo, chain[-1], [desc])
    nodes = signatures.discover(repo, desc)
    depth, node = 0, nodes
    while node:
        depth += 1
        assert len(node) == 1
        node = node[0].children
    assert depth == 4


def test_attach_record_round_trips_through_collect_records(model, ec_key, other_key) -> None:
    repo, desc = model
    signer = signatures.KeySigner(ec_key)
    stored = signatures.attach_record(repo, desc, repo.name, signer, "https://example.com/approval/v1",
                                      {"stage": "prod", "timestamp": "2026-03-02T00:00:00Z"}, created=CREATED)
    signatures.attach_record(repo, desc, repo.name, signer, "https://example.com/approval/v1",
                             {"stage": "staging", "timestamp": "2026-03-01T00:00:00Z"}, created=CREATED)
    assert stored.kind == "attestation" and stored.predicate_type == "https://example.com/approval/v1"
    both = signatures.AnyOf((signatures.KeyVerifier(other_key.public_key()),
                             signatures.KeyVerifier(ec_key.public_key())))
    collected = signatures.collect_records(repo, desc, repo.name, both,
                                           predicate_type="https://example.com/approval/v1")
    assert [r.predicate["stage"] for r in collected.records] == ["staging", "prod"]  # by predicate time
    assert all(r.statement.predicate_type == "https://example.com/approval/v1" for r in collected.records)
    stranger = signatures.collect_records(repo, desc, repo.name, signatures.KeyVerifier(other_key.public_key()),
                                          predicate_type="https://example.com/approval/v1")
    assert stranger.records == [] and len(stranger.rejected) == 2


def test_unpack_with_signature_refuses_before_writing_then_writes_both(model, ec_key, tmp_path) -> None:
    from modelcrate.errors import AlreadyExists, UsageError

    repo, desc = model
    out, sig = tmp_path / "out", tmp_path / "out.sig"
    with pytest.raises(SignatureError, match="no model-signing"):
        signatures.unpack_with_signature(repo, desc, out, sig)
    assert not out.exists() and not sig.exists()
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED)
    with pytest.raises(UsageError):
        signatures.unpack_with_signature(repo, desc, out, sig, kinds=("weight",))
    assert not out.exists()
    result, signature = signatures.unpack_with_signature(
        repo, desc, out, sig, verify=signatures.KeyVerifier(ec_key.public_key()))
    assert signature.verified and sig.read_bytes() == signature.data
    assert {p for p, _s in result.files} == {"model.safetensors", "config.json"}
    with pytest.raises(AlreadyExists):
        signatures.unpack_with_signature(repo, desc, tmp_path / "again", sig)
    assert not (tmp_path / "again").exists()


def test_discover_opens_at_most_its_limit(model, ec_key) -> None:
    repo, desc = model
    junk = _junk(repo, desc, 30, artifact_type="application/vnd.example.junk", predicate_type=None)
    _list(repo, desc, junk)
    counting = Counting(repo)
    nodes = signatures.discover(counting, desc, limit=10)
    assert len(nodes) == 10 and all(n.kind == "other" for n in nodes)
    assert len(set(counting.fetched) & {j.digest for j in junk}) == 10


@pytest.mark.registry
@pytest.mark.slow
def test_registry_flood_and_junk_fallback_tag(registry, pushed, repo_name, remote, ec_key) -> None:  # noqa: F811
    """On a real registry:2: 60 junk referrers beside one signature, then junk at the fallback tag."""
    from tests.sigops.test_sigops_registry import _target

    _ref, desc = pushed
    target = _target(registry, repo_name, remote)
    verifier = signatures.KeyVerifier(ec_key.public_key())
    signatures.sign(target, desc, target.name, signatures.KeySigner(ec_key), created=CREATED, cosign_legacy=True,
                    model_signing=False)
    junk = _junk(target, desc, 60, artifact_type=signatures.BUNDLE_MEDIA_TYPE, predicate_type=JUNK_TYPE)
    _list(target, desc, junk)
    counting = Counting(_target(registry, repo_name, remote, push=False))
    assert {v.kind for v in signatures.verify(counting, desc, repo_name, verifier)} == {"bundle", "cosign"}
    assert not set(counting.fetched) & {j.digest for j in junk}
    # A plain manifest at sha256-<hex>: the cosign signature still verifies; the tag is noted, not fatal.
    raw = build_manifest(Descriptor.of(OCI_EMPTY, EMPTY_JSON), [])
    plain = Descriptor(OCI_MANIFEST, _digest.of(raw), len(raw))
    target.push(plain, io.BytesIO(raw))
    target.tag(plain, referrers.fallback_tag(desc.digest))
    assert [v.kind for v in signatures.verify(target, desc, repo_name, verifier)] == ["cosign"]
    collected = signatures.collect_records(target, desc, repo_name, verifier, predicate_type="signature")
    assert collected.records == [] and "ignored the referrers tag" in collected.skipped[0]
