"""One contract for every Target: what push, fetch, exists, resolve and tag promise.

Runs on the memory store, the local layout and a real registry 2.8.2 (a RegistryTarget on the session
registry, one repository per test).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelcrate.content.layout import LocalStore
from modelcrate.content.memory import MemoryStore
from modelcrate.content.remote import RegistryClient, RemoteSettings, RetryPolicy, Timeout
from modelcrate.content.target import Target
from modelcrate.content.verify import read_all
from modelcrate.errors import DigestMismatch, InvalidReference, NotFound, SizeMismatch
from modelcrate.format.descriptor import Descriptor, build_manifest
from modelcrate.format.mediatypes import OCI_EMPTY, OCI_MANIFEST

def _registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    registry = request.getfixturevalue("registry")
    settings = RemoteSettings(docker_config=tmp_path / "docker-config", retry=RetryPolicy(attempts=2, backoff=0.02),
                              timeout=Timeout(connect=5, read=20))
    client = RegistryClient(registry.host, settings)
    name = "contract/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    try:
        yield client.repository(name, push=True)
    finally:
        client.close()


def _local(make: Callable[[Path], object]) -> Callable[[pytest.FixtureRequest, Path], Iterator[object]]:
    def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
        yield make(tmp_path)
    return factory


FACTORIES: dict[str, Callable[[pytest.FixtureRequest, Path], Iterator[object]]] = {
    "memory": _local(lambda tmp: MemoryStore("m")),
    "layout": _local(lambda tmp: LocalStore(tmp / "store").repository("localhost/contract")),
    "registry": _registry,
}


@pytest.fixture(params=[pytest.param(name, marks=[pytest.mark.registry] if name == "registry" else [])
                        for name in sorted(FACTORIES)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    yield from FACTORIES[request.param](request, tmp_path)


def test_every_target_satisfies_the_protocol(target) -> None:
    assert isinstance(target, Target)


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


def test_large_blob_round_trip(target) -> None:
    """Over 1 MiB: the registry streams it (pipelined, resumable reads; an upload from a pooled buffer)."""
    data = bytes(range(256)) * (5 * 4096 + 3)
    desc = Descriptor.of("application/octet-stream", data)
    target.push(desc, io.BytesIO(data))
    assert target.exists(desc)
    with target.fetch(desc) as f:
        assert read_all(f, desc, 1 << 24) == data
    wrong = Descriptor.of("application/octet-stream", data[:-1] + b"X")
    with pytest.raises(DigestMismatch):
        target.push(wrong, io.BytesIO(data))
    assert not target.exists(wrong)
