"""Digests of files already hashed, keyed by what ``stat`` says about them, so an unchanged big file is
not read again just to learn its digest.

``push DIR`` uploads a big file while hashing it (one read), which means the digest is known only after
the bytes went up. To still send nothing for a file the registry holds already, the digest of a file
hashed before is looked up by (device, inode, size, mtime_ns, ctime_ns). That key changes whenever the
file is written, replaced or renamed over, except in the case git's index calls "racy": a write within
the timestamp granularity of the moment the file was hashed leaves the key as it was. So an entry is
written only for a file whose ctime is at least :data:`RACY_SECONDS` older than the moment its hashing
began, and only when its stat did not change while it was read.

It is a hint, never trusted for content: a cached digest whose blob the registry lacks is uploaded
through a verifying reader (every byte hashed again) and the registry checks the digest on ``PUT``; a
mismatch drops the entry. Format: one SQLite table (``file-digests.sqlite`` in the store's state
directory), trimmed to the :data:`MAX_ROWS` most recently used entries; any database error makes the
cache empty for that call.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelcrateError

if TYPE_CHECKING:
    import sqlite3

FILENAME = "file-digests.sqlite"
RACY_SECONDS = 2.0  # coarse filesystem clocks (FAT, ext3, NFS servers) tick in up to 2 s
MAX_ROWS = 20_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL, digest TEXT NOT NULL, used REAL NOT NULL,
    PRIMARY KEY (dev, ino)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS digests_used ON digests (used);
"""


def _connect(path: Path) -> contextlib.AbstractContextManager[sqlite3.Connection | None]:
    # imported on first use (it loads sqlite3): `modelcrate pack` never needs it
    from ._internal.hintdb import hint_db

    return hint_db(path, _SCHEMA)


class FileChanged(ModelcrateError):
    """A file was written to while it was being read for a push."""

    hint = "run the command again once the file is no longer being written"


@dataclass(frozen=True)
class FileKey:
    """What ``stat`` says about one version of one file."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    @classmethod
    def of_fd(cls, fd: int) -> FileKey:
        return cls.of(os.fstat(fd))

    def text(self) -> str:
        """A name for this version of the file (an upload session resumed across runs is keyed by it)."""
        return f"file:{self.dev}:{self.ino}:{self.size}:{self.mtime_ns}:{self.ctime_ns}"

    def settled_before(self, when_ns: int) -> bool:
        """The file's last change lies far enough before ``when_ns`` that a later write changes the key."""
        return self.ctime_ns < when_ns - int(RACY_SECONDS * 1e9)


def check_unchanged(fd: int, before: FileKey, name: str) -> None:
    """Raise :class:`FileChanged` when ``fd`` no longer matches ``before`` (it was written while read)."""
    if FileKey.of_fd(fd) != before:
        raise FileChanged(f"{name} changed while it was being read")


class FileDigests:
    """The digest cache of one store (``state_dir`` None: this process only). Thread-safe."""

    def __init__(self, state_dir: Path | None) -> None:
        self.path = state_dir / FILENAME if state_dir is not None else None
        self._memory: dict[tuple[int, int], tuple[FileKey, str]] = {}

    def get(self, key: FileKey) -> str | None:
        """The digest recorded for exactly this version of the file, if any."""
        if self.path is None:
            found = self._memory.get((key.dev, key.ino))
            return found[1] if found is not None and found[0] == key else None
        if not self.path.exists():
            return None
        with _connect(self.path) as db:
            if db is None:
                return None
            row = db.execute("SELECT digest FROM digests WHERE dev = ? AND ino = ? AND size = ? AND mtime_ns = ? "
                             "AND ctime_ns = ?", (key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns)).fetchone()
            if row is not None:
                with db:
                    db.execute("UPDATE digests SET used = ? WHERE dev = ? AND ino = ?", (time.time(), key.dev, key.ino))
        return row[0] if row is not None else None

    def put(self, key: FileKey, digest: str, hashing_began_ns: int) -> bool:
        """Record ``digest`` for ``key``, unless the file changed too recently to be told apart from a
        write that followed (see the module notes); True when recorded."""
        if not key.settled_before(hashing_began_ns):
            return False
        if self.path is None:
            self._memory[(key.dev, key.ino)] = (key, digest)
            return True
        with _connect(self.path) as db:
            if db is None:
                return False
            with db:
                db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns, digest, time.time()))
                db.execute("DELETE FROM digests WHERE used < (SELECT used FROM digests ORDER BY used DESC "
                           "LIMIT 1 OFFSET ?)", (MAX_ROWS - 1,))
        return True

    def forget(self, key: FileKey) -> None:
        """The digest recorded for ``key`` proved wrong: hash the file next time."""
        if self.path is None:
            self._memory.pop((key.dev, key.ino), None)
            return
        if not self.path.exists():
            return
        with _connect(self.path) as db:
            if db is not None:
                with db:
                    db.execute("DELETE FROM digests WHERE dev = ? AND ino = ?", (key.dev, key.ino))
