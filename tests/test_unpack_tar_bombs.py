"""Tar layers that would expand far beyond their size, built by hand: refused, nothing written."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from modelcrate._internal import untrusted_tar
from modelcrate.content.layout import LocalStore
from modelcrate.errors import InvalidManifest, UnsafePath
from modelcrate.unpacking import unpack

from tests.support.artifacts import Layer, put_model, reg, tar_bytes

GIB = 1 << 30
RECORD = 10240  # tar's default record: the archives below are 10 KiB on the wire


def _octal(value: int, width: int) -> bytes:
    return f"{value:0{width - 1}o}".encode() + b"\0"


def _checksummed(header: bytearray) -> bytes:
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}".encode() + b"\0 "
    return bytes(header)


def gnu_sparse_tar(name: str, realsize: int) -> bytes:
    """An old-GNU sparse member (type 'S'): one real byte at the end of ``realsize`` bytes of holes."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.type = 1, 0o644, tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[386:398] = _octal(realsize - 1, 12)  # first sparse entry: offset,
    header[398:410] = _octal(1, 12)  # numbytes
    header[483:495] = _octal(realsize, 12)  # the expanded size
    archive = _checksummed(header) + b"x".ljust(512, b"\0")
    return archive.ljust(RECORD, b"\0")


def pax_sparse_tar(name: str, realsize: int) -> bytes:
    """A pax (GNU sparse 1.0) member: the map travels in the data, the real size in the pax header."""
    info = reg(f"{name.rsplit('/', 1)[0]}/GNUSparseFile.0/{name.rsplit('/', 1)[1]}")
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
                        "GNU.sparse.realsize": str(realsize)}
    data = f"1\n{realsize - 1}\n1\n".encode().ljust(512, b"\0") + b"x"
    return tar_bytes([(info, data)]).ljust(RECORD, b"\0")


@pytest.fixture
def repo(tmp_path: Path):
    return LocalStore(tmp_path / "store").repository("bomb")


def _refused(repo, tmp_path: Path, archive: bytes, error: type, match: str) -> None:
    put_model(repo, [Layer("data", archive, kind="dataset", fmt="tar")])
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        unpack(repo, "t", out)
    assert not out.exists() or not any(out.rglob("*")), "nothing may be written"


@pytest.mark.parametrize("build", [gnu_sparse_tar, pax_sparse_tar], ids=["gnu-S", "pax-1.0"])
def test_a_10_kib_sparse_member_that_would_expand_to_1_gib_is_refused(repo, tmp_path: Path, build) -> None:
    archive = build("data/big.bin", GIB)
    assert len(archive) <= RECORD
    _refused(repo, tmp_path, archive, UnsafePath, "sparse")


def test_a_member_declaring_more_bytes_than_the_layer_holds_is_refused_before_writing(repo, tmp_path: Path) -> None:
    info = reg("data/big.bin")
    info.size = GIB
    archive = info.tobuf(format=tarfile.PAX_FORMAT) + b"x" * 512  # the header lies: the data is not there
    _refused(repo, tmp_path, archive.ljust(RECORD, b"\0"), InvalidManifest, "more than the layer")


def test_more_members_than_the_limit_is_refused(repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(untrusted_tar, "MAX_MEMBERS", 10)
    archive = tar_bytes([(reg(f"data/f{i}"), b"") for i in range(11)])
    _refused(repo, tmp_path, archive, InvalidManifest, "more than 10 members")


def test_an_oversized_extended_header_is_refused_before_it_is_read(repo, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(untrusted_tar, "MAX_HEADER_BYTES", 4096)
    info = reg("data/" + "n" * 8000)  # a long name: needs a pax header of ~8 KiB
    archive = tar_bytes([(info, b"x")])
    _refused(repo, tmp_path, archive, InvalidManifest, "extended header")


def test_a_regular_tar_layer_still_unpacks(repo, tmp_path: Path) -> None:
    archive = tar_bytes([(reg("data/a.txt"), b"a"), (reg("data/sub/b.txt"), b"bb")])
    put_model(repo, [Layer("data", archive, kind="dataset", fmt="tar")])
    unpack(repo, "t", tmp_path / "out")
    assert (tmp_path / "out/data/sub/b.txt").read_bytes() == b"bb"


# Compressed layers (KitOps writes tar+gzip and tar+zstd) go through the same reader and the same limits.
def _compress(archive: bytes, fmt: str) -> bytes:
    if fmt == "tar+gzip":
        import gzip

        return gzip.compress(archive, mtime=0)
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(archive)


def _refused_compressed(repo, tmp_path: Path, archive: bytes, fmt: str, error: type, match: str) -> None:
    put_model(repo, [Layer("data", _compress(archive, fmt), kind="dataset", fmt=fmt)])
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        unpack(repo, "t", out)
    assert not out.exists() or not any(out.rglob("*")), "nothing may be written"


COMPRESSED = ["tar+gzip", "tar+zstd"]


@pytest.mark.parametrize("fmt", COMPRESSED)
@pytest.mark.parametrize("build", [gnu_sparse_tar, pax_sparse_tar], ids=["gnu-S", "pax-1.0"])
def test_compressed_sparse_members_are_refused(repo, tmp_path: Path, build, fmt: str) -> None:
    _refused_compressed(repo, tmp_path, build("data/big.bin", GIB), fmt, UnsafePath, "sparse")


@pytest.mark.parametrize("fmt", COMPRESSED)
def test_compressed_layers_have_a_member_cap(repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    monkeypatch.setattr(untrusted_tar, "MAX_MEMBERS", 10)
    archive = tar_bytes([(reg(f"data/f{i}"), b"") for i in range(11)])
    _refused_compressed(repo, tmp_path, archive, fmt, InvalidManifest, "more than 10 members")


@pytest.mark.parametrize("fmt", COMPRESSED)
def test_a_compressed_layer_expanding_past_the_ratio_is_refused(repo, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    monkeypatch.setattr(untrusted_tar, "MAX_COMPRESSION_RATIO", 4)
    archive = tar_bytes([(reg("data/zeros.bin"), b"\0" * (1 << 20))])  # 1 MiB of zeros: a few KiB compressed
    _refused_compressed(repo, tmp_path, archive, fmt, InvalidManifest, "more than the layer")


@pytest.mark.parametrize("fmt", COMPRESSED)
def test_a_compressed_member_outside_the_layer_path_is_refused(repo, tmp_path: Path, fmt: str) -> None:
    archive = tar_bytes([(reg("elsewhere/a.txt"), b"a")])
    _refused_compressed(repo, tmp_path, archive, fmt, UnsafePath, "outside its own path")


@pytest.mark.parametrize("fmt", COMPRESSED)
def test_a_compressed_tar_layer_unpacks(repo, tmp_path: Path, fmt: str) -> None:
    archive = tar_bytes([(reg("data/a.txt"), b"a"), (reg("data/sub/b.txt"), b"\0" * 4096)])
    put_model(repo, [Layer("data", _compress(archive, fmt), kind="dataset", fmt=fmt)])
    unpack(repo, "t", tmp_path / "out")
    assert (tmp_path / "out/data/sub/b.txt").read_bytes() == b"\0" * 4096


def test_a_corrupt_gzip_stream_is_one_error(repo, tmp_path: Path) -> None:
    good = _compress(tar_bytes([(reg("data/a.txt"), b"a" * 100_000)]), "tar+gzip")
    corrupt = good[:40] + bytes(b ^ 0xFF for b in good[40:80]) + good[80:]
    put_model(repo, [Layer("data", corrupt, kind="dataset", fmt="tar+gzip")])
    with pytest.raises(InvalidManifest, match="malformed"):
        unpack(repo, "t", tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
