"""The index database: one SQLite file in the user's cache directory (the path is chosen at the edge).

Manifests are content-addressed, so a row per manifest digest is stored once and never fetched again;
tags say which digest each ``source/repository:tag`` named when it was last listed. ``source`` is a
registry host (``localhost:5000``) or ``local`` for the local store. ``fields`` and ``places`` hold every
searchable value flattened, for the queries :mod:`.sql` compiles.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .records import DEFAULT_STAGES
from .sql import MAX_ROWS, SCHEMA as SQL_SCHEMA, flatten, order_by

SCHEMA_VERSION = 3
DEFAULT_CONCURRENCY = 8  # requests in flight while the index is refreshed
LOCAL_SOURCE = "local"
INDEX_FILENAME = "index.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS manifests (
    digest TEXT PRIMARY KEY,
    model INTEGER NOT NULL,          -- 1: a model manifest whose fields are searchable
    name TEXT, version TEXT,
    fields TEXT NOT NULL             -- JSON: the searchable fields taken from the manifest
);
CREATE TABLE IF NOT EXISTS tags (
    source TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (source, repository, tag)
);
CREATE INDEX IF NOT EXISTS tags_digest ON tags (digest);
CREATE TABLE IF NOT EXISTS models (              -- one row per digest per repository: what a search lists
    source TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL, tags TEXT NOT NULL, deprecation TEXT,
    PRIMARY KEY (source, repository, digest)
);
CREATE TABLE IF NOT EXISTS deprecation_checks (  -- per tagged model with referrers: DeprecationCheck
    source TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL, checked TEXT NOT NULL,
    PRIMARY KEY (source, repository, digest)
);
CREATE TABLE IF NOT EXISTS repositories (
    source TEXT NOT NULL, repository TEXT NOT NULL, synced TEXT NOT NULL,
    PRIMARY KEY (source, repository)
);
""" + SQL_SCHEMA


def default_path(env: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/modelcrate/index.sqlite``, else ``~/.cache/modelcrate/index.sqlite``."""
    cache = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(cache).expanduser() / "modelcrate" / INDEX_FILENAME


@dataclass(frozen=True)
class RepositoryState:
    """What a sync writes for one repository: its tags now and the deprecation checks of its models."""

    source: str
    repository: str
    tags: Mapping[str, str]
    checks: Mapping[str, DeprecationCheck]

    def deprecation(self, digest: str) -> str | None:
        found = self.checks.get(digest)
        return found.reason if found is not None else None


@dataclass(frozen=True)
class DeprecationCheck:
    """What the index keeps about one model's deprecation records (see :mod:`.deprecations`)."""

    listing: str  # digest of the referrers listing the answer was read from
    trusted: str  # who was trusted then (the reader's ``key``)
    reason: str | None  # the decisive verified record, as ``status`` shows it; None: not deprecated
    skipped: tuple[str, ...] = ()  # records not counted, one line each

    def to_json(self) -> str:
        return json.dumps({"listing": self.listing, "trusted": self.trusted, "reason": self.reason,
                           "skipped": list(self.skipped)})

    @classmethod
    def from_json(cls, text: str) -> DeprecationCheck | None:
        try:
            v = json.loads(text)
            return cls(str(v["listing"]), str(v["trusted"]), v["reason"], tuple(v["skipped"]))
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable row is read again


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
    def known_digests(self) -> dict[str, bool]:
        """Every manifest digest indexed → whether it is a model."""
        return {r[0]: bool(r[1]) for r in self.conn.execute("SELECT digest, model FROM manifests")}

    def deprecation_checks(self, source: str, repository: str) -> dict[str, DeprecationCheck]:
        rows = self.conn.execute("SELECT digest, checked FROM deprecation_checks WHERE source = ? AND repository = ?",
                                 (source, repository))
        return {d: c for d, text in rows if (c := DeprecationCheck.from_json(text)) is not None}

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
               repositories: Sequence[str] | None = None, sort: tuple[str, bool] | None = None
               ) -> list[tuple[str, str, str, str, str | None, str | None, str, str | None]]:
        """Models in scope that satisfy ``condition`` (SQL from :func:`.sql.compile_node`): rows of
        (source, repository, digest, tags JSON, name, version, fields JSON, deprecation reason), one per digest per
        repository, sorted by ``sort`` (field, descending) or by place."""
        scope, scope_args = ["m.model = 1"], []
        if source is not None:
            scope.append("g.source = ?")
            scope_args.append(source)
        if prefix:
            scope.append("substr(g.repository, 1, length(?)) = ?")
            scope_args += [prefix, prefix]
        if repositories is not None:
            scope.append("g.repository IN (SELECT value FROM json_each(?))")
            scope_args.append(json.dumps(list(repositories)))
        order, order_args = order_by(*sort) if sort else ("g.source, g.repository, g.digest", [])
        sql = f"""
            SELECT g.source, g.repository, g.digest, g.tags, m.name, m.version, m.fields, g.deprecation
            FROM models g JOIN manifests m ON m.digest = g.digest
            WHERE {' AND '.join(scope)} AND {condition} ORDER BY {order}"""
        return self.conn.execute(sql, [*scope_args, *args, *order_args]).fetchall()

    # ---- writes ----------------------------------------------------------------------------------
    def write(self, states: Iterable[RepositoryState], manifests: Mapping[str, dict[str, Any] | None],
              *, source: str, gone: Iterable[str] = ()) -> None:
        """Record one sync: new manifests (None = not a model), each repository's tags and deprecations,
        and forget repositories that no longer exist."""
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.transaction() as c:
            known = self.known_digests()
            for d, f in manifests.items():
                if d in known:
                    continue
                c.execute("INSERT INTO manifests VALUES (?, ?, ?, ?, ?)",
                          (d, 0 if f is None else 1, (f or {}).get("name"), (f or {}).get("version"),
                           json.dumps(f or {}, sort_keys=True)))
                c.executemany("INSERT INTO fields VALUES (?, ?, ?, ?)",
                              [(d, *row) for row in itertools.islice(flatten(f or {}), MAX_ROWS)])
            for st in states:
                key = (st.source, st.repository)
                checks = {d: c.to_json() for d, c in st.checks.items()}
                if self._unchanged(st, checks):  # the common warm refresh: only the sync time moves
                    c.execute("UPDATE repositories SET synced = ? WHERE source = ? AND repository = ?", (now, *key))
                    continue
                for table in ("tags", "places", "models", "deprecation_checks"):
                    c.execute(f"DELETE FROM {table} WHERE source = ? AND repository = ?", key)  # noqa: S608
                c.executemany("INSERT INTO tags VALUES (?, ?, ?, ?)",
                              [(*key, t, d) for t, d in st.tags.items()])
                c.executemany("INSERT INTO deprecation_checks VALUES (?, ?, ?, ?)",
                              [(*key, d, text) for d, text in checks.items()])
                found = places(st)
                c.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?)",
                              [(*key, d, *row) for d, place in found.items() for row in flatten(place)])
                c.executemany("INSERT INTO models VALUES (?, ?, ?, ?, ?)",
                              [(*key, d, json.dumps(p["registry_tags"]), p.get("deprecation"))
                               for d, p in found.items()])
                c.execute("INSERT OR REPLACE INTO repositories VALUES (?, ?, ?)", (*key, now))
            for repository in gone:
                for table in ("tags", "places", "models", "deprecation_checks", "repositories"):
                    c.execute(f"DELETE FROM {table} WHERE source = ? AND repository = ?",  # noqa: S608
                              (source, repository))

    def _unchanged(self, st: RepositoryState, checks: Mapping[str, str]) -> bool:
        """Whether the index already holds exactly these tags and deprecation checks for the repository."""
        key = (st.source, st.repository)
        if not self.conn.execute("SELECT 1 FROM repositories WHERE source = ? AND repository = ?", key).fetchone():
            return False
        held = dict(self.conn.execute("SELECT digest, checked FROM deprecation_checks WHERE source = ? AND "
                                      "repository = ?", key))
        return self.tags_of(*key) == dict(st.tags) and held == dict(checks)


def places(state: RepositoryState) -> dict[str, dict[str, Any]]:
    """digest → the fields that come from where it is tagged (see :data:`.sql.PLACE_FIELDS`)."""
    tags: dict[str, list[str]] = {}
    for tag, digest in sorted(state.tags.items()):
        tags.setdefault(digest, []).append(tag)
    out = {}
    for digest, names in tags.items():
        reason = state.deprecation(digest)
        out[digest] = {"source": state.source, "repository": state.repository, "digest": digest,
                       "registry_tags": names, "stages": [s for s in DEFAULT_STAGES if s in names],
                       "deprecated": reason is not None, **({"deprecation": reason} if reason is not None else {})}
    return out


def under_prefix(repository: str, prefix: str) -> bool:
    """``team`` covers ``team`` and ``team/...``; ``team/be`` covers ``team/bert`` too (a name prefix)."""
    return not prefix or repository.startswith(prefix)
