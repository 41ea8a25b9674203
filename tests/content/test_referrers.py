"""Referrers on targets without the OCI 1.1 API: the sha256-<hex> fallback index, readers that check."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modelcrate.content import referrers
from modelcrate.content.layout import LocalStore
from modelcrate.content.memory import MemoryStore
from modelcrate.graphcopy import CopyOptions, copy
from modelcrate.format.descriptor import Descriptor
from modelcrate.format.mediatypes import OCI_MANIFEST
from tests.support.artifacts import plain_manifest

BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


@pytest.fixture(params=["memory", "layout"])
def target(request: pytest.FixtureRequest, tmp_path: Path):
    return MemoryStore() if request.param == "memory" else LocalStore(tmp_path).repository("m")


def _attach(target, subject: Descriptor, payload: bytes, ptype: str = "https://x/y") -> Descriptor:
    return referrers.attach(target, subject, artifact_type=BUNDLE, blob=payload, blob_media_type=BUNDLE,
                            annotations={"dev.sigstore.bundle.predicateType": ptype,
                                         "org.opencontainers.image.created": "2025-01-01T00:00:00Z"})


def test_attach_writes_fallback_index_with_annotations(target) -> None:
    model = plain_manifest(target, tag="1.0")
    ref = _attach(target, model, b'{"bundle": 1}')
    index = target.resolve(referrers.fallback_tag(model.digest))
    with target.fetch(index) as f:
        import json
        entries = json.loads(f.read())["manifests"]
    assert [(e["digest"], e["artifactType"]) for e in entries] == [(ref.digest, BUNDLE)]
    assert entries[0]["annotations"]["dev.sigstore.bundle.predicateType"] == "https://x/y"
    found = referrers.list_referrers(target, model)
    assert [r.descriptor.digest for r in found] == [ref.digest]
    assert found[0].manifest.subject.digest == model.digest
    assert referrers.list_referrers(target, model, artifact_type="application/other") == []


def test_index_entry_with_a_different_subject_is_ignored(target) -> None:
    model = plain_manifest(target, tag="1.0")
    other = Descriptor.of(OCI_MANIFEST, b'{"other":1}')
    stray = _attach(target, other, b"x")
    referrers.register(target, model, stray)  # a liar lists it under our model
    assert referrers.list_referrers(target, model) == []


def test_concurrent_signers_both_recorded(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    model = plain_manifest(store.repository("m"), tag="1.0")
    errors = []

    def sign(i: int) -> None:
        try:
            _attach(LocalStore(tmp_path).repository("m"), model, f"sig-{i}".encode())
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=sign, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(referrers.list_referrers(store.repository("m"), model)) == 6


def test_copy_carries_referrers_and_they_survive_retag(tmp_path: Path) -> None:
    src = LocalStore(tmp_path / "a").repository("m")
    model = plain_manifest(src, tag="1.0")
    sig = _attach(src, model, b"sig")
    dst = MemoryStore()
    result = copy(src, "1.0", dst, "renamed", CopyOptions())
    assert result.referrers == 1
    assert [r.descriptor.digest for r in referrers.list_referrers(dst, dst.resolve("renamed"))] == [sig.digest]
    bare = MemoryStore()
    copy(src, "1.0", bare, "1.0", CopyOptions(referrers=False))
    assert referrers.list_referrers(bare, model) == []
