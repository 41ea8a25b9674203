"""Atomic file writes, directory fsync, advisory locks, copy-on-write clones, and openat-style access
below a directory file descriptor (for writing where someone else may swap directories for symlinks)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import tempfile
import hashlib
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import StoreError

CHUNK = 4 * 1024 * 1024
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def fsync_dir(path: Path) -> None:
    """Persist a rename: fsync the directory that holds the new name."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def open_dir_at(parent_fd: int, name: str) -> int:
    """Open the directory ``name`` inside ``parent_fd`` without following a symlink: a symlink raises
    OSError (ELOOP or ENOTDIR), whatever it points at. The fd keeps naming that very directory even if
    it is renamed or replaced by a link afterwards, so nothing written through it can land elsewhere."""
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def create_temp_at(dir_fd: int, prefix: str, suffix: str, mode: int = 0o600) -> tuple[int, str]:
    """Create a new file with a random name inside ``dir_fd`` (O_EXCL|O_NOFOLLOW); (fd, name)."""
    while True:
        name = f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(name, _NEW_FILE_FLAGS, mode, dir_fd=dir_fd), name
        except FileExistsError:
            continue


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a mix."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def locked(path: Path, *, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
    """Hold an advisory ``flock`` on ``path``; yields False when ``blocking`` is off and it is taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            yield False
            return
        except OSError as exc:
            raise StoreError(f"cannot lock {path}: {exc.strerror}") from None
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@functools.cache
def _sync_file_range():  # type: ignore[no-untyped-def]
    import ctypes  # on first write, so that read-only commands start fast

    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE_WRITE = 2  # start writeback of dirty pages, don't wait


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range to disk now (Linux sync_file_range), so the fsync that
    makes the file durable overlaps hashing and reading instead of following them. Best effort."""
    sync = _sync_file_range()
    if sync is not None:
        sync(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def try_clone(src_fd: int, dst_fd: int) -> bool:
    """Copy-on-write clone (btrfs, XFS, bcachefs); False where the filesystem cannot."""
    try:
        fcntl.ioctl(dst_fd, _FICLONE, src_fd)
        return True
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EBADF,
                         errno.EPERM):
            return False
        raise


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view):]


class FileSink:
    """Writes all of each chunk to a file descriptor, starting writeback as it goes (for files fsync'ed
    next; ``writeback=False`` for working copies, which are not); optionally hashes what it writes."""

    def __init__(self, fd: int, hasher: "hashlib._Hash | None" = None, *, writeback: bool = True) -> None:
        self.fd = fd
        self.hasher = hasher
        self.writeback = writeback
        self.written = 0

    def write(self, data: "memoryview | bytes") -> int:
        view = memoryview(data)
        if self.hasher is not None:
            self.hasher.update(view)
        _write_all(self.fd, view)
        if self.writeback:
            start_writeback(self.fd, self.written, len(view))
        self.written += len(view)
        return len(view)


def hash_copy(src_fd: int, dst_fd: int | None, on_bytes: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Hash ``src_fd`` (copying to ``dst_fd``) in one read pass; ``on_bytes`` hears each chunk's size.

    hashlib and os.write both release the GIL, so hashing chunk k in a worker overlaps writing it and
    reading chunk k+1: two buffers alternate and each hash finishes before its buffer is reused.
    """
    h = hashlib.sha256()
    bufs = (bytearray(CHUNK), bytearray(CHUNK))
    size = 0
    pending = None
    from concurrent.futures import ThreadPoolExecutor  # on first use: it pulls in logging

    with ThreadPoolExecutor(1) as pool:
        i = 0
        while True:
            n = os.readv(src_fd, [bufs[i]])
            if pending is not None:
                pending.result()
            if not n:
                break
            view = memoryview(bufs[i])[:n]
            pending = pool.submit(h.update, view)
            if dst_fd is not None:
                _write_all(dst_fd, view)
                start_writeback(dst_fd, size, n)
            size += n
            if on_bytes is not None:
                on_bytes(n)
            i ^= 1
    return h.hexdigest(), size


def cut_to(fd: int, size: int) -> None:
    """Truncate the file to ``size`` only when it is longer: on ext4 a file that was truncated is flushed
    to disk when it is closed (the rename-over-truncate heuristic, auto_da_alloc), which made a fresh
    1 GiB download wait 0.26 s in close() for nothing (measured)."""
    if os.fstat(fd).st_size > size:
        os.ftruncate(fd, size)
