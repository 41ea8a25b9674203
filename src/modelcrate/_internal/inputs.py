"""Small files a user names on the command line or in a policy: modelcrate.yaml, policy files, keys,
certificates, predicates. Each is read the one way that cannot hang or exhaust memory: opened
non-blocking (a FIFO would block forever on open or read), checked to be a regular file (a link to
``/dev/zero`` is a character device), and read up to its cap plus one byte, so an oversized file is
refused without being read in full."""

from __future__ import annotations

import os
import stat

from ..errors import ModelcrateError, UsageError

MAX_SMALL_FILE = 1024 * 1024  # keys, certificates, policies


def read_regular_file(path: str | os.PathLike[str], cap: int, what: str, *,
                      error: type[ModelcrateError] = UsageError, follow_symlinks: bool = True) -> bytes:
    """At most ``cap`` bytes of the regular file ``path``; anything else raises ``error`` in one line
    that names ``what`` and the path."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"cannot read {what} {os.fspath(path)}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} {os.fspath(path)} is not a regular file")
        if st.st_size > cap:
            raise error(f"{what} {os.fspath(path)} is {st.st_size} bytes, over the {cap}-byte limit")
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while total <= cap:  # st_size may lie (procfs says 0): stop at cap + 1 bytes whatever it said
            chunk = os.read(fd, min(cap + 1 - total, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise error(f"cannot read {what} {os.fspath(path)}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if total > cap:
        raise error(f"{what} {os.fspath(path)} is larger than the {cap}-byte limit")
    return b"".join(chunks)
