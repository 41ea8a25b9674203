"""Search the index: filters and ``--where`` expressions over every tagged model in scope.

>>> from modelcrate.index.search import search                                            # doctest: +SKIP
>>> [m.reference for m in search("localhost:5000/team", where="metrics.accuracy >= 0.9")]
['localhost:5000/team/bert:1.2.0']
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import lineage as _lineage
from ..content.layout import LocalStore
from ..content.remote.registry import RegistryClient, RemoteSettings
from ..errors import UsageError
from ..format.reference import Reference
from ..settings import Settings
from . import expr
from .db import LOCAL_SOURCE, IndexDB, default_path
from .records import DEFAULT_STAGES, stages_of, with_location
from .sync import DEFAULT_CONCURRENCY, DeprecationReader, LocalSource, RegistrySource, SyncStats, no_deprecations, refresh


@dataclass(frozen=True)
class Filters:
    """The flag filters of ``modelcrate search``; each one set narrows the result (they are ANDed).

    ``name`` is a glob (``bert-*``); ``text`` words must each appear in the name, title, description or
    tags; ``uses_dataset`` matches a dataset URI, digest or name; ``derived_from`` lists every model
    whose base model is that reference, recursively through the index."""

    name: str | None = None
    framework: str | None = None
    format: str | None = None
    license: str | None = None
    task: str | None = None
    tags: tuple[str, ...] = ()
    author: str | None = None
    owner: str | None = None
    stage: str | None = None
    deprecated: bool | None = None
    created_before: str | None = None
    created_after: str | None = None
    text: str | None = None
    uses_dataset: str | None = None
    derived_from: str | None = None


@dataclass(frozen=True)
class Match:
    """One model version found: a manifest digest in one repository, with every tag naming it."""

    reference: str
    source: str
    repository: str
    digest: str
    version: str | None
    tags: tuple[str, ...]
    stages: tuple[str, ...]
    deprecated: bool
    matched: Mapping[str, Any]
    record: Mapping[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "source": self.source, "repository": self.repository,
                "digest": self.digest, "name": self.record.get("name"), "version": self.version,
                "tags": list(self.tags), "stages": list(self.stages), "deprecated": self.deprecated,
                "matched": dict(self.matched)}


@dataclass(frozen=True)
class Scope:
    """What to search: a registry (``source``) and a repository prefix, or the local store."""

    source: str | None
    prefix: str = ""

    @classmethod
    def parse(cls, text: str | None, *, local: bool = False) -> Scope:
        """``HOST[:PORT]``, ``HOST[:PORT]/PREFIX``, a local-store prefix with ``local``, or None: all indexed."""
        if local:
            return cls(LOCAL_SOURCE, (text or "").strip("/"))
        if not text:
            return cls(None)
        host, _, prefix = text.strip().rstrip("/").partition("/")
        if not host or "." not in host and ":" not in host and host != "localhost":
            raise UsageError(f"{text!r} names no registry", hint="write HOST[:PORT] or HOST[:PORT]/PREFIX, "
                                                                  "or use --local")
        try:
            Reference.parse(f"{host}/{prefix or 'x'}")
        except UsageError:
            raise UsageError(f"{text!r} is not a registry or a repository prefix") from None
        return cls(host.lower(), prefix)


def filter_nodes(f: Filters) -> list[expr.Node]:
    """The flag filters as expression nodes (built directly, never by pasting text into an expression)."""
    C = expr.Compare
    nodes: list[expr.Node] = []
    for key, value in (("framework", f.framework), ("format", f.format), ("license", f.license),
                       ("task", f.task), ("authors", f.author), ("owners", f.owner), ("stages", f.stage)):
        if value is not None:
            nodes.append(C(key, "=", value))
    nodes += [C("tags", "=", t) for t in f.tags]
    if f.deprecated is not None:
        nodes.append(C("deprecated", "=", f.deprecated))
    if f.created_before:
        nodes.append(C("created", "<", _date_literal(f.created_before, "--created-before")))
    if f.created_after:
        nodes.append(C("created", ">=", _date_literal(f.created_after, "--created-after")))
    if f.name:
        pattern = f.name
        nodes.append(expr.Test(f"name ~ {pattern}", lambda r: isinstance(r.get("name"), str)
                               and fnmatch.fnmatchcase(r["name"], pattern)))
    if f.text:
        words = f.text.lower().split()
        nodes.append(expr.Test(f"text {f.text}", lambda r: all(w in _haystack(r) for w in words)))
    if f.uses_dataset:
        wanted = f.uses_dataset
        nodes.append(expr.Test(f"uses dataset {wanted}", lambda r: _lineage.uses_dataset(r, wanted)))
    return nodes


def _date_literal(text: str, flag: str) -> str:
    if expr._date(text) is None:
        raise UsageError(f"{flag} {text!r} is not a date; write 2025-01-31 or 2025-01-31T12:00:00Z")
    return text


def _haystack(record: Mapping[str, Any]) -> str:
    parts = [record.get(k) for k in ("name", "title", "description")] + list(record.get("tags") or [])
    return " ".join(p for p in parts if isinstance(p, str)).lower()


def _filter_fields(f: Filters) -> list[str]:
    names = {"framework": f.framework, "format": f.format, "license": f.license, "task": f.task,
             "authors": f.author, "owners": f.owner, "stages": f.stage, "deprecated": f.deprecated,
             "created": f.created_before or f.created_after, "tags": f.tags or None,
             "datasets": f.uses_dataset, "base_model": f.derived_from}
    return [k for k, v in names.items() if v is not None]


def _display_ref(source: str, repository: str, digest: str, tags: Sequence[str], version: str | None) -> str:
    where = repository if source == LOCAL_SOURCE else f"{source}/{repository}"
    plain = [t for t in tags if t not in DEFAULT_STAGES]
    tag = version if version in tags else (plain or list(tags) or [None])[0]
    return f"{where}:{tag}" if tag else f"{where}@{digest}"


def query(db: IndexDB, scope: Scope, *, where: str | None = None, filters: Filters | None = None,
          sort: str | None = None, limit: int | None = None, stages: Sequence[str] = DEFAULT_STAGES,
          repositories: Sequence[str] | None = None) -> list[Match]:
    """Answer a search from the index alone (no network); ``repositories`` keeps only those."""
    f = filters or Filters()
    nodes = filter_nodes(f)
    parsed = expr.parse(where) if where else None
    if parsed is not None:
        nodes.append(parsed)
    condition = expr.all_of(nodes)
    grouped: dict[tuple[str, str, str], list[str]] = {}
    fields_text: dict[str, str] = {}
    only = set(repositories) if repositories is not None else None
    for row, text in db.tagged_models(scope.source, scope.prefix):
        if only is not None and row.repository not in only:
            continue
        grouped.setdefault((row.source, row.repository, row.digest), []).append(row.tag)
        fields_text[row.digest] = text
    deprecated = db.deprecations(scope.source)
    parsed_fields: dict[str, dict[str, Any]] = {}
    records = []
    for (source, repository, digest), tags in grouped.items():
        base = parsed_fields.get(digest)
        if base is None:
            base = parsed_fields[digest] = json.loads(fields_text[digest])
        records.append(with_location(base, source=source, repository=repository, digest=digest, tags=tags,
                                     stages=stages_of(tags, stages),
                                     deprecated=deprecated.get((source, repository, digest))))
    if f.derived_from:
        derived = _lineage.derived_from(records, f.derived_from)
        records = [r for r in records if id(r) in derived]
    shown = _filter_fields(f) + (expr.fields_of(parsed) if parsed is not None else [])
    out = []
    for r in records:
        if condition is not None and not expr.evaluate(condition, r):
            continue
        version = r.get("version")
        out.append(Match(_display_ref(r["source"], r["repository"], r["digest"], r["registry_tags"], version),
                         r["source"], r["repository"], r["digest"], version, tuple(r["registry_tags"]),
                         tuple(r["stages"]), r["deprecated"],
                         {k: expr.lookup(r, k) for k in dict.fromkeys(shown)}, r))
    out.sort(key=lambda m: (m.reference, m.digest))
    if sort:
        out = sort_matches(out, sort)
    return out[:limit] if limit is not None else out


def sort_matches(matches: list[Match], key: str) -> list[Match]:
    """Sort by a field (``metrics.accuracy``; ``-metrics.accuracy`` for descending); models without the
    field come last either way."""
    descending = key.startswith("-")
    name = key.lstrip("-+")
    if not name:
        raise UsageError("--sort needs a field name, e.g. metrics.accuracy or -created")
    present = [m for m in matches if expr.lookup(m.record, name) is not None]
    missing = [m for m in matches if expr.lookup(m.record, name) is None]

    def value(m: Match) -> tuple[int, Any]:
        v = expr._norm(name, expr.lookup(m.record, name))
        if isinstance(v, bool):
            return (0, int(v))
        if isinstance(v, (int, float)):
            return (1, v)
        return (2, str(v))

    return sorted(present, key=value, reverse=descending) + missing


def search(scope: str | None = None, *, local: bool = False, where: str | None = None,
           filters: Filters | None = None, sort: str | None = None, limit: int | None = None,
           offline: bool = False, repositories: Sequence[str] | None = None,
           index: str | os.PathLike[str] | None = None, settings: Settings | None = None,
           remote: RemoteSettings | None = None, concurrency: int = DEFAULT_CONCURRENCY,
           deprecations: DeprecationReader = no_deprecations) -> list[Match]:
    """Find models by metadata, metrics, stage and lineage across a registry or the local store.

    ``scope`` is ``HOST[:PORT]`` or ``HOST[:PORT]/REPOSITORY-PREFIX`` (with ``local``: a local-store
    name prefix). The index at ``index`` (default: the user's cache directory) is refreshed first unless
    ``offline``; ``repositories`` names them exactly, for registries without a catalog."""
    db_path = Path(index) if index is not None else default_path(os.environ)
    target_scope = Scope.parse(scope, local=local)
    with IndexDB(db_path) as db:
        if not offline:
            update(db, target_scope, repositories=repositories, settings=settings, remote=remote,
                   concurrency=concurrency, deprecations=deprecations)
        return query(db, target_scope, where=where, filters=filters, sort=sort, limit=limit,
                     repositories=repositories)


def update(db: IndexDB, scope: Scope, *, repositories: Sequence[str] | None = None,
           settings: Settings | None = None, remote: RemoteSettings | None = None,
           concurrency: int = DEFAULT_CONCURRENCY, deprecations: DeprecationReader = no_deprecations
           ) -> SyncStats:
    """Refresh the index for ``scope`` (a registry, a prefix of one, or the local store)."""
    if scope.source is None:
        raise UsageError("name a registry (HOST[:PORT][/PREFIX]) or --local to refresh; "
                         "--offline searches everything already indexed")
    if scope.source == LOCAL_SOURCE:
        store = LocalStore((settings or Settings.from_env()).home)
        return refresh(db, LocalSource(store), prefix=scope.prefix, repositories=repositories,
                       concurrency=concurrency, deprecations=deprecations)
    client = RegistryClient(scope.source, remote or RemoteSettings.from_env())
    try:
        return refresh(db, RegistrySource(client), prefix=scope.prefix, repositories=repositories,
                       concurrency=concurrency, deprecations=deprecations)
    finally:
        client.close()


def read_repository_list(path: str | os.PathLike[str]) -> list[str]:
    """A repository list file: one repository per line; blank lines and ``#`` comments ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the repository list {path}: {getattr(exc, 'strerror', None) or exc}") from None
    names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    names = [n for n in names if n]
    for n in names:
        try:
            Reference.parse(f"localhost/{n}")
        except UsageError:
            raise UsageError(f"{path}: {n!r} is not a repository name") from None
    return names
