"""The one way to open a state database that holds hints (blob locations, upload sessions, file digests):
a lost or unreadable one costs an upload or a hash, never correctness."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

_BUSY_SECONDS = 5.0


@contextlib.contextmanager
def hint_db(path: Path | None, schema: str, *, private: bool = False) -> Iterator[sqlite3.Connection | None]:
    """A connection to ``path`` with ``schema``, or None when the database cannot be used (then what it
    would remember is simply unknown). ``private`` creates the file 0600 (SQLite's journal files copy
    the database file's mode)."""
    assert path is not None
    db = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if private and not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(path, timeout=_BUSY_SECONDS)
        db.execute("PRAGMA journal_mode=WAL")
        # Hints only: a commit lost in a crash costs an upload or a hash, never correctness. Without
        # this, every commit fsyncs, and on ext4 an fsync waits for the data of the files a pull has
        # just written (0.9 s after a 1 GiB pull -o, measured).
        db.execute("PRAGMA synchronous=OFF")
        db.executescript(schema)
    except (sqlite3.Error, OSError):
        if db is not None:
            db.close()
        yield None
        return
    try:
        yield db
    except sqlite3.Error:
        pass  # a hint we could not read or write: the transfer goes on without it
    finally:
        db.close()
