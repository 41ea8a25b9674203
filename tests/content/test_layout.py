"""The local OCI layout store: layout files, atomic writes, locking, garbage collection."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from modelcrate.content.layout import LocalStore, split_ref_name
from modelcrate.errors import DigestMismatch, StoreError
from modelcrate.format.descriptor import Descriptor, build_manifest
from modelcrate.format.mediatypes import OCI_EMPTY, OCI_MANIFEST

from tests.format.test_model_format import oci_validator


def _manifest(store: LocalStore, payload: bytes) -> Descriptor:
    blob = Descriptor.of("application/octet-stream", payload)
    store.push_blob(blob, io.BytesIO(payload))
    config = Descriptor.of(OCI_EMPTY, b"{}")
    store.push_blob(config, io.BytesIO(b"{}"))
    raw = build_manifest(config, [blob])
    desc = Descriptor.of(OCI_MANIFEST, raw)
    store.push_blob(desc, io.BytesIO(raw))
    return desc


def test_new_store_is_a_valid_oci_layout(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    layout = json.loads((tmp_path / "s" / "oci-layout").read_text())
    assert not list(oci_validator("image-layout-schema.json").iter_errors(layout))
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert not list(oci_validator("image-index-schema.json").iter_errors(index))
    desc = _manifest(store, b"x")
    store.repository("localhost:5000/team/m").tag(desc, "1.0")
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert not list(oci_validator("image-index-schema.json").iter_errors(index))
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "localhost:5000/team/m:1.0"


def test_blobs_are_read_only_and_named_by_digest(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    desc = Descriptor.of("application/octet-stream", b"abc")
    store.push_blob(desc, io.BytesIO(b"abc"))
    path = store.blob_path(desc.digest)
    assert path.read_bytes() == b"abc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert list((tmp_path / "ingest").iterdir()) == []


def test_refused_blob_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    desc = Descriptor.of("application/octet-stream", b"abc")
    with pytest.raises(DigestMismatch):
        store.push_blob(desc, io.BytesIO(b"abd"))
    assert not store.has_blob(desc.digest)
    assert list((tmp_path / "ingest").iterdir()) == []


def test_ingest_file_hashes_while_copying_and_keeps_the_source(tmp_path: Path) -> None:
    src = tmp_path / "w.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024 + 7))  # crosses the 4 MiB chunk boundary twice
    store = LocalStore(tmp_path / "s")
    desc = store.ingest_file(src, "application/octet-stream")
    assert desc == Descriptor.of("application/octet-stream", src.read_bytes())
    assert store.blob_path(desc.digest).read_bytes() == src.read_bytes()
    assert store.blob_path(desc.digest).stat().st_ino != src.stat().st_ino  # never a hardlink
    src.write_bytes(b"edited")  # editing the source cannot change the store
    assert store.blob_path(desc.digest).stat().st_size == 9 * 1024 * 1024 + 7


def test_split_ref_name() -> None:
    assert split_ref_name("reg:5000/a/m:1") == ("reg:5000/a/m", "1", None)
    assert split_ref_name("reg:5000/a/m") == ("reg:5000/a/m", None, None)
    assert split_ref_name("m@sha256:" + "a" * 64) == ("m", None, "sha256:" + "a" * 64)


def test_corrupt_index_is_one_clear_error(tmp_path: Path) -> None:
    LocalStore(tmp_path)
    (tmp_path / "index.json").write_text("{broken")
    with pytest.raises(StoreError, match="corrupt"):
        LocalStore(tmp_path).entries()


def test_unwritable_home_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="Not a directory") as err:
        LocalStore(blocker / "store")
    assert "MODELCRATE_HOME" in err.value.diagnostics()


def _tag_many(root: str, worker: int, count: int) -> None:
    store = LocalStore(root)
    for i in range(count):
        desc = _manifest(store, f"{worker}-{i}".encode())
        store.repository(f"w{worker}").tag(desc, f"v{i}")


def test_concurrent_writers_do_not_lose_tags(tmp_path: Path) -> None:
    root = str(tmp_path / "s")
    LocalStore(root)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_tag_many, args=(root, w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = LocalStore(root)
    for w in range(4):
        assert store.repository(f"w{w}").tags() == sorted(f"v{i}" for i in range(15))


def test_gc_frees_unreferenced_blobs_only(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    keep = _manifest(store, b"keep")
    drop = _manifest(store, b"drop")
    repo = store.repository("m")
    repo.tag(keep, "a")
    repo.tag(drop, "b")
    repo.untag("b")
    removed, freed = store.gc()
    assert removed == 2 and freed > 0  # the dropped manifest and its unique layer; the shared config stays
    assert store.has_blob(keep.digest) and not store.has_blob(drop.digest)
    assert repo.resolve("a") == keep


def test_gc_waits_for_running_writers(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    _manifest(store, b"untagged")
    with store.writing():
        assert store.gc() is None  # a pack in progress may own these blobs
    assert store.gc() is not None
