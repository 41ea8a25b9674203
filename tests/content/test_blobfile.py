"""Partial downloads (content/blobfile.py): kept only with bytes in them, locked against a second writer,
never opened through a symlink; a local source is copied whole, and a failed copy keeps nothing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from modelcrate.content.blobfile import fetch_into, partial_file, partial_name
from modelcrate.content.memory import MemoryStore
from modelcrate.errors import DigestMismatch, UnsafePath
from modelcrate.format.descriptor import Descriptor


@pytest.fixture
def dir_fd(tmp_path: Path):  # noqa: ANN201
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_a_failure_removes_an_empty_partial_and_keeps_one_with_bytes(tmp_path: Path, dir_fd: int) -> None:
    with pytest.raises(OSError), partial_file(dir_fd, "p") as (_fd, name, have):
        assert (name, have) == ("p", 0)
        raise OSError("network")
    assert not (tmp_path / "p").exists()
    with pytest.raises(OSError), partial_file(dir_fd, "p") as (fd, _name, _have):
        os.write(fd, b"abc")
        raise OSError("network")
    assert (tmp_path / "p").read_bytes() == b"abc"
    assert (tmp_path / "p").stat().st_mode & 0o777 == 0o600
    with partial_file(dir_fd, "p") as (_fd, _name, have):
        assert have == 3  # the next run resumes after these
    with partial_file(dir_fd, "empty") as (_fd, _name, _have):
        pass  # done: an empty blob's file is the caller's to rename
    assert (tmp_path / "empty").exists()


def test_a_second_writer_gets_a_file_of_its_own(tmp_path: Path, dir_fd: int) -> None:
    with partial_file(dir_fd, "p") as (fd1, name1, _h1):
        os.write(fd1, b"one")
        with partial_file(dir_fd, "p") as (fd2, name2, have2):
            assert name2 != name1 and have2 == 0
            os.write(fd2, b"two")
    assert (tmp_path / "p").read_bytes() == b"one"


def test_a_symlink_at_the_partial_name_is_refused(tmp_path: Path, dir_fd: int) -> None:
    (tmp_path / "elsewhere").write_bytes(b"")
    (tmp_path / "p").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePath, match="symlink"), partial_file(dir_fd, "p"):
        pass
    assert (tmp_path / "elsewhere").read_bytes() == b""


def test_a_local_source_is_copied_whole_and_a_wrong_one_keeps_nothing(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    desc = Descriptor.of("application/octet-stream", data)
    target = MemoryStore()
    target.push(desc, io.BytesIO(data))
    with open(tmp_path / "f", "w+b") as f:
        f.write(b"stale bytes")
        f.flush()
        fetch_into(target, desc, f.fileno(), have=11)
        f.seek(0)
        assert f.read() == data
    wrong = Descriptor(desc.media_type, "sha256:" + "0" * 64, desc.size)
    target.blobs[wrong.digest] = data
    with open(tmp_path / "g", "w+b") as f, pytest.raises(DigestMismatch):
        fetch_into(target, wrong, f.fileno())
    assert (tmp_path / "g").read_bytes() == b""


def test_partial_names_come_from_the_digest() -> None:
    desc = Descriptor.of("application/octet-stream", b"x")
    assert partial_name(desc) == "partial-" + desc.digest.split(":")[1]
