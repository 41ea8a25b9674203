"""Blobs written into files, resumable across runs: one way for any source, and the partial files it uses.

A download that stops (a dropped connection after the retries, Ctrl-C) leaves its partial file holding a
prefix of the blob; the next run opens the same file, hashes that prefix again and fetches only the rest.
The partial's name is derived from the digest, and it is locked while written, so two processes never
write one file (the second downloads into a file of its own instead).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Callable, Iterator

from .._internal.fsutil import FileSink, create_temp_at, cut_to
from ..errors import UnsafePath
from ..format import digest as _digest
from ..format.descriptor import Descriptor
from .target import FileFetcher, Fetcher
from .verify import drain, verifying


def fetch_into(source: Fetcher, desc: Descriptor, fd: int, *, have: int = 0,
               on_bytes: Callable[[int], None] | None = None) -> None:
    """Write blob ``desc`` from ``source`` into ``fd``, verified; a source that can resume (a registry)
    continues after the ``have`` bytes already in the file, any other is copied from the start."""
    if isinstance(source, FileFetcher):
        source.fetch_into(desc, fd, have=have, on_bytes=on_bytes)
        return
    cut_to(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        with source.fetch(desc) as stream:
            drain(verifying(stream, desc), FileSink(fd, writeback=False), on_bytes=on_bytes)
    except BaseException:
        cut_to(fd, 0)  # a copy is quick to redo: keep nothing of a failed one
        raise


def partial_name(desc: Descriptor, prefix: str = "partial-") -> str:
    return f"{prefix}{_digest.hex_of(desc.digest)}"


@contextlib.contextmanager
def partial_file(dir_fd: int, name: str) -> Iterator[tuple[int, str, int]]:
    """Open the partial download ``name`` in ``dir_fd`` (made if missing), locked for this process: yields
    (fd, name, bytes already in it). When another process holds it, a fresh temp file is used instead.
    When the block fails, a partial without a byte in it is removed and one with bytes is kept for the
    next run; after success the caller renames it into place (or removes it)."""
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600,
                     dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{name!r} is a symlink; a partial download is never written through one") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"{name!r} exists and is not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process is downloading the same blob here
            os.close(fd)
            fd, name = create_temp_at(dir_fd, f"{name}.", "")
        yield fd, name, os.fstat(fd).st_size
    except BaseException:
        if os.fstat(fd).st_size == 0:  # nothing to resume from (an empty blob done is the caller's)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=dir_fd)
        raise
    finally:
        os.close(fd)
