"""What a registry client remembers between runs: where blobs were seen (:class:`BlobLocations`) and the
upload sessions still open (:class:`UploadSessions`).

Where blobs were seen: a small cache of (registry, digest) → repositories that hold it.

A push to a repository that lacks a blob asks the registry to mount it from a repository it was seen in
(pushed, pulled, copied, or found by an existence check), so the bytes are not sent again. The cache is
only a hint: a mount is a request the registry checks against its own storage, and a refused mount
falls back to an upload. Nothing read from here is trusted as content.

Format: one SQLite database (``blob-locations.sqlite`` in the store's state directory) in WAL mode, so
several processes may read and write it at once; a busy database waits up to a few seconds, and any
database error makes the cache empty for that call rather than failing a transfer. Sightings are kept
in memory during a run and written in one transaction when the registry client closes; the table is
then trimmed to the ``MAX_ROWS`` most recent sightings, so its size stays bounded (a few MiB).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ..._internal.hintdb import hint_db

FILENAME = "blob-locations.sqlite"
SESSIONS_FILENAME = "upload-sessions.sqlite"
SESSION_MAX_AGE = 6 * 24 * 3600  # registry 2.8.2 purges upload sessions after 7 days
MAX_ROWS = 50_000
MAX_CANDIDATES = 3  # mounts tried per blob before uploading it
_SCHEMA = """
CREATE TABLE IF NOT EXISTS locations (
    registry TEXT NOT NULL, digest TEXT NOT NULL, repository TEXT NOT NULL, seen REAL NOT NULL,
    PRIMARY KEY (registry, digest, repository)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS locations_seen ON locations (seen);
"""
_SESSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    registry TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL, location TEXT NOT NULL,
    saved REAL NOT NULL, PRIMARY KEY (registry, repository, digest)) WITHOUT ROWID;
"""


class BlobLocations:
    """Repositories known to hold each blob of one registry. Thread-safe; ``path`` None keeps it in memory
    for this process only."""

    def __init__(self, registry: str, path: Path | None) -> None:
        self.registry = registry
        self.path = path
        self._seen: dict[str, dict[str, float]] = {}  # this run's sightings: digest → repository → time
        self._gone: set[tuple[str, str]] = set()  # (digest, repository) a registry refused to mount from
        self._lock = threading.Lock()

    @classmethod
    def in_dir(cls, registry: str, state_dir: Path | None) -> BlobLocations:
        return cls(registry, state_dir / FILENAME if state_dir is not None else None)

    def record(self, digest: str, repository: str) -> None:
        """``repository`` holds ``digest`` (written to disk by :meth:`flush`)."""
        with self._lock:
            self._seen.setdefault(digest, {})[repository] = time.time()
            self._gone.discard((digest, repository))

    def forget(self, digest: str, repository: str) -> None:
        """The registry refused to mount ``digest`` from ``repository``: do not suggest it again."""
        with self._lock:
            self._seen.get(digest, {}).pop(repository, None)
            self._gone.add((digest, repository))

    def holders(self, digest: str) -> list[str]:
        """Repositories that held ``digest``, most recently seen first."""
        with self._lock:
            found = dict(self._seen.get(digest, {}))
            gone = {repo for d, repo in self._gone if d == digest}
        for repo, seen in self._stored(digest):
            if repo not in gone and seen > found.get(repo, 0.0):
                found[repo] = seen
        return sorted(found, key=lambda repo: -found[repo])

    def candidates(self, digest: str, exclude: str) -> list[str]:
        """Up to ``MAX_CANDIDATES`` repositories other than ``exclude`` to mount ``digest`` from."""
        return [repo for repo in self.holders(digest) if repo != exclude][:MAX_CANDIDATES]

    def flush(self) -> None:
        """Write this run's sightings and refusals in one transaction, then trim the table."""
        with self._lock:
            seen, self._seen = self._seen, {}
            gone, self._gone = self._gone, set()
        if self.path is None or not (seen or gone):
            if self.path is None:  # memory only: keep what we know for the rest of the process
                with self._lock:
                    self._seen, self._gone = seen, gone
            return
        rows = [(self.registry, d, repo, t) for d, repos in seen.items() for repo, t in repos.items()]
        with hint_db(self.path, _SCHEMA) as db:
            if db is None:
                return
            with db:
                db.executemany("INSERT INTO locations VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE "
                               "SET seen = max(seen, excluded.seen)", rows)
                db.executemany("DELETE FROM locations WHERE registry = ? AND digest = ? AND repository = ?",
                               [(self.registry, d, repo) for d, repo in gone])
                db.execute("DELETE FROM locations WHERE seen < (SELECT seen FROM locations ORDER BY seen DESC "
                           "LIMIT 1 OFFSET ?)", (MAX_ROWS - 1,))

    def _stored(self, digest: str) -> list[tuple[str, float]]:
        if self.path is None or not self.path.exists():
            return []
        rows: list[tuple[str, float]] = []
        with hint_db(self.path, _SCHEMA) as db:
            if db is not None:
                rows = list(db.execute("SELECT repository, seen FROM locations WHERE registry = ? AND digest = ?",
                                       (self.registry, digest)))
        return rows


class UploadSessions:
    """Upload sessions of one registry still open between runs, by (repository, digest): a push that was
    interrupted resumes from the offset the registry reports instead of sending the blob again. The
    upload URLs are capabilities, so the file is private (0600); entries older than the registry's purge
    age are dropped."""

    def __init__(self, registry: str, state_dir: Path | None) -> None:
        self.registry = registry
        self.path = state_dir / SESSIONS_FILENAME if state_dir is not None else None
        self._memory: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, repository: str, digest: str) -> str | None:
        if self.path is None:
            with self._lock:
                return self._memory.get((repository, digest))
        if not self.path.exists():
            return None
        found = None
        with hint_db(self.path, _SESSIONS_SCHEMA) as db:
            if db is not None:
                row = db.execute("SELECT location FROM sessions WHERE registry = ? AND repository = ? AND digest = ? "
                                 "AND saved > ?", (self.registry, repository, digest,
                                                   time.time() - SESSION_MAX_AGE)).fetchone()
                found = row[0] if row else None
        return found

    def save(self, repository: str, digest: str, location: str) -> None:
        if self.path is None:
            with self._lock:
                self._memory[(repository, digest)] = location
            return
        with hint_db(self.path, _SESSIONS_SCHEMA, private=True) as db:
            if db is not None:
                with db:
                    db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?)",
                               (self.registry, repository, digest, location, time.time()))
                    db.execute("DELETE FROM sessions WHERE saved < ?", (time.time() - SESSION_MAX_AGE,))

    def drop(self, repository: str, digest: str) -> None:
        if self.path is None:
            with self._lock:
                self._memory.pop((repository, digest), None)
            return
        if not self.path.exists():
            return
        with hint_db(self.path, _SESSIONS_SCHEMA) as db:
            if db is not None:
                with db:
                    db.execute("DELETE FROM sessions WHERE registry = ? AND repository = ? AND digest = ?",
                               (self.registry, repository, digest))
