"""One contract for every Target: what push, fetch, exists, resolve and tag promise.

Runs on the memory store and the local layout here; the remote registry adds itself in tests/transport.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from modelcrate.content.layout import LocalStore
from modelcrate.content.memory import MemoryStore
from modelcrate.content.verify import read_all
from modelcrate.errors import DigestMismatch, InvalidReference, NotFound, SizeMismatch
from modelcrate.format.descriptor import Descriptor, build_manifest
from modelcrate.format.mediatypes import OCI_EMPTY, OCI_MANIFEST

FACTORIES: dict[str, Callable[[Path], object]] = {
    "memory": lambda tmp: MemoryStore("m"),
    "layout": lambda tmp: LocalStore(tmp / "store").repository("localhost/contract"),
}


@pytest.fixture(params=sorted(FACTORIES))
def target(request: pytest.FixtureRequest, tmp_path: Path):
    return FACTORIES[request.param](tmp_path)


BLOB = b"model weights" * 100
DESC = Descriptor.of("application/octet-stream", BLOB)


def test_push_fetch_exists(target) -> None:
    assert not target.exists(DESC)
    target.push(DESC, io.BytesIO(BLOB))
    assert target.exists(DESC)
    with target.fetch(DESC) as f:
        assert read_all(f, DESC, 1 << 20) == BLOB


def test_push_is_idempotent_and_skips_reading(target) -> None:
    target.push(DESC, io.BytesIO(BLOB))
    target.push(DESC, io.BytesIO(b"never read"))  # existing content wins; the stream is not trusted
    with target.fetch(DESC) as f:
        assert read_all(f, DESC, 1 << 20) == BLOB


@pytest.mark.parametrize(
    "data, error",
    [(BLOB[:-1], SizeMismatch), (BLOB + b"!", SizeMismatch), (BLOB[:-1] + b"X", DigestMismatch)],
    ids=["short", "trailing", "wrong-bytes"],
)
def test_push_refuses_lies(target, data: bytes, error: type) -> None:
    with pytest.raises(error):
        target.push(DESC, io.BytesIO(data))
    assert not target.exists(DESC)


def test_fetch_missing_is_not_found(target) -> None:
    with pytest.raises(NotFound):
        with target.fetch(DESC):
            pass


def test_resolve_and_tag(target) -> None:
    config = Descriptor.of(OCI_EMPTY, b"{}")
    target.push(config, io.BytesIO(b"{}"))
    raw = build_manifest(config, [])
    m = Descriptor.of(OCI_MANIFEST, raw)
    target.push(m, io.BytesIO(raw))
    with pytest.raises(NotFound):
        target.resolve("v1")
    target.tag(m, "v1")
    assert target.resolve("v1") == m
    assert target.resolve(m.digest) == m
    assert "v1" in target.tags()
    with pytest.raises(InvalidReference):
        target.tag(m, "bad tag")


def test_tag_requires_existing_manifest(target) -> None:
    with pytest.raises(NotFound):
        target.tag(Descriptor.of(OCI_MANIFEST, b"{}"), "v1")
