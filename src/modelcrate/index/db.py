"""The index database: one SQLite file in the user's cache directory (the path is chosen at the edge).

Manifests are content-addressed, so a row per manifest digest is stored once and never fetched again;
tags say which digest each ``source/repository:tag`` named when it was last listed. ``source`` is a
registry host (``localhost:5000``) or ``local`` for the local store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import StoreError

SCHEMA_VERSION = 1
LOCAL_SOURCE = "local"
INDEX_FILENAME = "index.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS manifests (
    digest TEXT PRIMARY KEY,
    model INTEGER NOT NULL,          -- 1: a model manifest whose fields are searchable
    fields TEXT NOT NULL             -- JSON: the searchable fields taken from the manifest
);
CREATE TABLE IF NOT EXISTS tags (
    source TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (source, repository, tag)
);
CREATE INDEX IF NOT EXISTS tags_digest ON tags (digest);
CREATE TABLE IF NOT EXISTS repositories (
    source TEXT NOT NULL, repository TEXT NOT NULL, synced TEXT NOT NULL,
    PRIMARY KEY (source, repository)
);
CREATE TABLE IF NOT EXISTS deprecations (
    source TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (source, repository, digest)
);
"""


def default_path(env: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/modelcrate/index.sqlite``, else ``~/.cache/modelcrate/index.sqlite``."""
    cache = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(cache).expanduser() / "modelcrate" / INDEX_FILENAME


@dataclass(frozen=True)
class RepositoryState:
    """What a sync writes for one repository: its tags now, the manifests first seen, deprecations."""

    source: str
    repository: str
    tags: Mapping[str, str]
    deprecated: Mapping[str, str]


class IndexDB:
    """The open index. Writes happen in one thread (the sync collects, then writes one transaction)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use the search index {self.path}: {exc}",
                             hint="delete the file; the next search rebuilds it") from None
        except OSError as exc:
            raise StoreError(f"cannot create the search index {self.path}: {exc.strerror}") from None

    def _check_version(self) -> None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            self.conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise StoreError(f"the search index {self.path} has schema {row[0]}, this modelcrate writes "
                             f"{SCHEMA_VERSION}", hint="delete the file; the next search rebuilds it")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> IndexDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ---- reads -----------------------------------------------------------------------------------
    def known_digests(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT digest FROM manifests")}

    def tags_of(self, source: str, repository: str) -> dict[str, str]:
        return dict(self.conn.execute("SELECT tag, digest FROM tags WHERE source = ? AND repository = ?",
                                      (source, repository)))

    def repositories(self, source: str, prefix: str = "") -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT repository FROM repositories WHERE source = ? ORDER BY repository", (source,))
            if under_prefix(r[0], prefix)]

    def sources(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT source FROM repositories ORDER BY source")]

    def select(self, source: str | None, prefix: str, condition: str = "1", args: Sequence[Any] = (), *,
               stages: Sequence[str], repositories: Sequence[str] | None = None, order: str | None = None
               ) -> list[tuple[str, str, str, str, str | None, str | None, str]]:
        """Models in scope whose record satisfies ``condition`` (SQL over the JSON column ``rec``): rows of
        (source, repository, digest, tags JSON, name, version, record JSON). One row per digest per
        repository; ``rec`` is the manifest's fields plus where it is tagged (see records.with_location)."""
        scope, scope_args = ["m.model = 1"], []
        if source is not None:
            scope.append("t.source = ?")
            scope_args.append(source)
        if prefix:
            scope.append("substr(t.repository, 1, length(?)) = ?")
            scope_args += [prefix, prefix]
        if repositories is not None:
            scope.append("t.repository IN (SELECT value FROM json_each(?))")
            scope_args.append(json.dumps(list(repositories)))
        marks = ", ".join("?" for _ in stages) or "NULL"
        sql = f"""
            WITH g AS (
                SELECT t.source, t.repository, t.digest, json_group_array(t.tag) AS tags
                FROM tags t JOIN manifests m ON m.digest = t.digest
                WHERE {' AND '.join(scope)}
                GROUP BY t.source, t.repository, t.digest),
            r AS (
                SELECT g.source, g.repository, g.digest, g.tags, json_set(m.fields,
                    '$.source', g.source, '$.repository', g.repository, '$.digest', g.digest,
                    '$.registry_tags', json(g.tags),
                    '$.stages', json((SELECT json_group_array(value) FROM json_each(g.tags)
                                      WHERE value IN ({marks}))),
                    '$.deprecated', json(CASE WHEN d.reason IS NULL THEN 'false' ELSE 'true' END),
                    '$.deprecation', d.reason) AS rec
                FROM g JOIN manifests m ON m.digest = g.digest
                LEFT JOIN deprecations d
                    ON d.source = g.source AND d.repository = g.repository AND d.digest = g.digest)
            SELECT source, repository, digest, tags, json_extract(rec, '$.name'), json_extract(rec, '$.version'), rec
            FROM r WHERE {condition} ORDER BY {order or "source, repository, digest"}"""
        return self.conn.execute(sql, [*scope_args, *stages, *args]).fetchall()

    def deprecations(self, source: str | None) -> dict[tuple[str, str, str], str]:
        sql, args = "SELECT source, repository, digest, reason FROM deprecations", ()
        if source is not None:
            sql, args = sql + " WHERE source = ?", (source,)
        return {(s, r, d): reason for s, r, d, reason in self.conn.execute(sql, args)}

    # ---- writes ----------------------------------------------------------------------------------
    def write(self, states: Iterable[RepositoryState], manifests: Mapping[str, dict[str, Any] | None],
              *, source: str, gone: Iterable[str] = ()) -> None:
        """Record one sync: new manifests (None = not a model), each repository's tags and deprecations,
        and forget repositories that no longer exist."""
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.transaction() as c:
            c.executemany("INSERT OR IGNORE INTO manifests VALUES (?, ?, ?)",
                          [(d, 0 if f is None else 1, json.dumps(f or {}, sort_keys=True))
                           for d, f in manifests.items()])
            for st in states:
                key = (st.source, st.repository)
                c.execute("DELETE FROM tags WHERE source = ? AND repository = ?", key)
                c.executemany("INSERT INTO tags VALUES (?, ?, ?, ?)",
                              [(*key, t, d) for t, d in st.tags.items()])
                c.execute("DELETE FROM deprecations WHERE source = ? AND repository = ?", key)
                c.executemany("INSERT INTO deprecations VALUES (?, ?, ?, ?)",
                              [(*key, d, reason) for d, reason in st.deprecated.items()])
                c.execute("INSERT OR REPLACE INTO repositories VALUES (?, ?, ?)", (*key, now))
            for repository in gone:
                for table in ("tags", "deprecations", "repositories"):
                    c.execute(f"DELETE FROM {table} WHERE source = ? AND repository = ?",  # noqa: S608
                              (source, repository))


def under_prefix(repository: str, prefix: str) -> bool:
    """``team`` covers ``team`` and ``team/...``; ``team/be`` covers ``team/bert`` too (a name prefix)."""
    return not prefix or repository.startswith(prefix)
