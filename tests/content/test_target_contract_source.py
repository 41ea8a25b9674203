"""The Target contract, read side, for the directory source that ``push DIR REF`` copies from.

A :class:`~modelcrate.packing.SourceTarget` serves a model directory as it would be packed, without
storing it. It promises what any Target promises to a reader (exists, verified fetch, resolve by digest,
NotFound for the rest) and refuses every write.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from modelcrate import packing
from modelcrate.content.verify import read_all
from modelcrate.errors import DigestMismatch, NotFound, SizeMismatch, UsageError
from modelcrate.format.descriptor import Descriptor, successors
from modelcrate.format.mediatypes import OCI_MANIFEST
from tests.support.artifacts import write_model

WEIGHTS = b"weights " * 4096


@pytest.fixture
def staged(tmp_path: Path) -> tuple[Path, packing.SourceTarget, Descriptor]:
    root = write_model(tmp_path / "m", {"model.safetensors": WEIGHTS, "config.json": b'{"a": 1}'})
    source, manifest = packing.stage(packing.plan(root, None), concurrency=2)
    return root, source, manifest


def _graph(source: packing.SourceTarget, manifest: Descriptor) -> list[Descriptor]:
    with source.fetch(manifest) as f:
        return successors(manifest, read_all(f, manifest, 1 << 20))


def test_exists_and_fetch_serve_every_node_verified(staged) -> None:  # type: ignore[no-untyped-def]
    _root, source, manifest = staged
    assert manifest.media_type == OCI_MANIFEST and source.exists(manifest)
    children = _graph(source, manifest)
    assert children and all(source.exists(c) for c in children)
    sizes = {}
    for child in children:
        with source.fetch(child) as f:
            sizes[child.digest] = len(read_all(f, child, 1 << 24))
    assert WEIGHTS and len(WEIGHTS) in sizes.values()


def test_the_same_directory_stages_to_the_digest_pack_gives(staged, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, _source, manifest = staged
    from modelcrate.content.layout import LocalStore

    packed = packing.pack(packing.plan(root, None), LocalStore(tmp_path / "store").repository("m"), "1")
    assert packed.descriptor.digest == manifest.digest


def test_resolve_knows_only_the_root_by_digest(staged) -> None:  # type: ignore[no-untyped-def]
    _root, source, manifest = staged
    assert source.resolve(manifest.digest) == manifest
    for other in ("latest", "sha256-" + manifest.digest[7:], "sha256:" + "0" * 64):
        with pytest.raises(NotFound):
            source.resolve(other)


def test_fetch_missing_is_not_found(staged) -> None:  # type: ignore[no-untyped-def]
    _root, source, _manifest = staged
    missing = Descriptor.of("application/octet-stream", b"not in the model")
    assert not source.exists(missing)
    with pytest.raises(NotFound):
        with source.fetch(missing):
            pass


def test_writes_are_refused(staged) -> None:  # type: ignore[no-untyped-def]
    _root, source, manifest = staged
    blob = Descriptor.of("application/octet-stream", b"x")
    with pytest.raises(UsageError):
        source.push(blob, io.BytesIO(b"x"))
    with pytest.raises(UsageError):
        source.tag(manifest, "v1")


@pytest.mark.parametrize("edit, error", [(WEIGHTS[:-1] + b"X", DigestMismatch), (WEIGHTS + b"!", SizeMismatch)],
                         ids=["same-size", "grown"])
def test_a_file_edited_after_staging_fails_verification(staged, edit: bytes, error: type) -> None:  # type: ignore[no-untyped-def]
    root, source, manifest = staged
    (root / "model.safetensors").write_bytes(edit)
    weights = next(c for c in _graph(source, manifest) if c.size == len(WEIGHTS))
    with pytest.raises(error):
        with source.fetch(weights) as f:
            read_all(f, weights, 1 << 24)
