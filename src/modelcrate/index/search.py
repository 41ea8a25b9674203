"""Search the index: filters and ``--where`` expressions over every tagged model in scope.

>>> from modelcrate.index.search import search                                            # doctest: +SKIP
>>> [m.reference for m in search("localhost:5000/team", where="metrics.accuracy >= 0.9")]
['localhost:5000/team/bert:1.2.0']
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..errors import UsageError
from ..format.reference import Reference
from . import expr
from .db import DEFAULT_CONCURRENCY, LOCAL_SOURCE, IndexDB, default_path
from .records import DEFAULT_STAGES, stages_of
from .sql import compile_node

# Refreshing loads the store and the sync machinery (threads, logging) when it runs: an offline query
# does not need them.
if TYPE_CHECKING:
    from .sync import SyncStats
    from ..signatures import Verifier


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
    """One model version found: a manifest digest in one repository, with every tag naming it.

    ``record`` (every searchable field) and ``matched`` (the fields the query named) are decoded from
    the index on first use, so a query costs only what its caller reads."""

    reference: str
    source: str
    repository: str
    digest: str
    name: str | None
    version: str | None
    tags: tuple[str, ...]
    stages: tuple[str, ...]
    deprecation: str | None
    shown: tuple[str, ...] = field(repr=False)
    fields_json: str = field(repr=False)

    @cached_property
    def record(self) -> dict[str, Any]:
        """Every searchable field: the manifest's, then where it is tagged."""
        value: dict[str, Any] = json.loads(self.fields_json)
        value.update({"source": self.source, "repository": self.repository, "digest": self.digest,
                      "registry_tags": list(self.tags), "stages": list(self.stages),
                      "deprecated": self.deprecation is not None})
        if self.deprecation is not None:
            value["deprecation"] = self.deprecation
        return value

    @property
    def deprecated(self) -> bool:
        return self.deprecation is not None

    @property
    def matched(self) -> dict[str, Any]:
        return {k: expr.lookup(self.record, k) for k in self.shown}

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "source": self.source, "repository": self.repository,
                "digest": self.digest, "name": self.name, "version": self.version, "tags": list(self.tags),
                "stages": list(self.stages), "deprecated": self.deprecated, "matched": self.matched}


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
                       ("task", f.task), ("authors", f.author), ("owners", f.owner), ("stages", f.stage),
                       ("datasets", f.uses_dataset)):
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
        nodes.append(expr.Glob("name", f.name))
    if f.text:
        nodes.append(expr.Words(("name", "title", "description", "tags"), tuple(f.text.split())))
    return nodes


def _date_literal(text: str, flag: str) -> str:
    if expr.normalize_date(text) is None:
        raise UsageError(f"{flag} {text!r} is not a date; write 2025-01-31 or 2025-01-31T12:00:00Z")
    return text


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
    """Answer a search from the index alone (no network); ``repositories`` keeps only those. The
    condition runs inside SQLite (:mod:`.sql`); only matching models reach Python."""
    f = filters or Filters()
    nodes = filter_nodes(f)
    parsed = expr.parse(where) if where else None
    if parsed is not None:
        nodes.append(parsed)
    condition = expr.all_of(nodes)
    sql_text, args = compile_node(condition) if condition is not None else ("1", [])
    rows = db.select(scope.source, scope.prefix, sql_text, args, repositories=repositories,
                     sort=_sort_key(sort) if sort else None)
    if f.derived_from:
        keep = _derived(db, f.derived_from)
        rows = [r for r in rows if (r[0], r[1], r[2]) in keep]
    shown = tuple(dict.fromkeys(_filter_fields(f) + (expr.fields_of(parsed) if parsed is not None else [])
                                + ([_sort_key(sort)[0]] if sort else [])))
    out = []
    for source, repository, digest, tags_json, name, version, fields_json, deprecation in rows:
        tags = sorted(json.loads(tags_json))
        out.append(Match(_display_ref(source, repository, digest, tags, version), source, repository, digest,
                         name, version, tuple(tags), tuple(stages_of(tags, stages)), deprecation, shown,
                         fields_json))
    if not sort:
        out.sort(key=lambda m: (m.reference, m.digest))
    return out[:limit] if limit is not None else out


def _sort_key(key: str) -> tuple[str, bool]:
    name = key.lstrip("-+")
    if not expr.FIELD.match(name):
        raise UsageError(f"--sort {key!r}: name a field, e.g. metrics.accuracy or -created (descending)")
    return name, key.startswith("-")


def _derived(db: IndexDB, ref: str) -> set[tuple[str, str, str]]:
    """(source, repository, digest) of every model derived from ``ref``, through the whole index."""
    from .. import lineage_graph as _lineage  # it loads the signature stack: only for --derived-from
    records = []
    for source, repository, digest, tags_json, _name, _version, fields_json, _reason in db.select(None, ""):
        fields = json.loads(fields_json)
        records.append({"source": source, "repository": repository, "digest": digest,
                        "registry_tags": json.loads(tags_json), "base_model": fields.get("base_model")})
    ids = _lineage.derived_from(records, ref)
    return {(r["source"], r["repository"], r["digest"]) for r in records if id(r) in ids}


def search(scope: str | None = None, *, local: bool = False, where: str | None = None,
           filters: Filters | None = None, sort: str | None = None, limit: int | None = None,
           offline: bool = False, repositories: Sequence[str] | None = None,
           index: str | os.PathLike[str] | None = None, config: Config, concurrency: int = DEFAULT_CONCURRENCY,
           verifier: Verifier | None = None, recheck: bool = False,
           report: Callable[[SyncStats], None] | None = None) -> list[Match]:
    """Find models by metadata, metrics, stage and lineage across a registry or the local store.

    ``scope`` is ``HOST[:PORT]`` or ``HOST[:PORT]/REPOSITORY-PREFIX`` (with ``local``: a local-store
    name prefix). The index at ``index`` (default: ``~/.cache/modelcrate``; :func:`modelcrate.search` honours
    ``$XDG_CACHE_HOME``) is refreshed first unless
    ``offline``; ``repositories`` names them exactly, for registries without a catalog. A model is
    deprecated by a lifecycle record that ``verifier`` accepts (as ``status`` counts them); records that
    do not count are listed in the :class:`SyncStats` given to ``report``."""
    db_path = Path(index) if index is not None else default_path({})
    target_scope = Scope.parse(scope, local=local)
    with IndexDB(db_path) as db:
        if not offline:
            stats = update(db, target_scope, repositories=repositories, config=config,
                           concurrency=concurrency, verifier=verifier, recheck=recheck)
            if report is not None:
                report(stats)
        return query(db, target_scope, where=where, filters=filters, sort=sort, limit=limit,
                     repositories=repositories)


def update(db: IndexDB, scope: Scope, *, repositories: Sequence[str] | None = None,
           config: Config, concurrency: int = DEFAULT_CONCURRENCY, verifier: Verifier | None = None,
           recheck: bool = False) -> SyncStats:
    """Refresh the index for ``scope`` (a registry, a prefix of one, or the local store); ``recheck``
    resolves every tag again, not only the stage tags and new ones; deprecation records count when
    ``verifier`` accepts them."""
    if scope.source is None:
        raise UsageError("name a registry (HOST[:PORT][/PREFIX]) or --local to refresh; "
                         "--offline searches everything already indexed")
    from .deprecations import SignedDeprecations  # the signature stack, loaded only to refresh
    from .sync import LocalSource, RegistrySource, refresh

    deprecations = SignedDeprecations(verifier)
    if scope.source == LOCAL_SOURCE:
        from ..content.layout import LocalStore

        store = LocalStore(config.home)
        return refresh(db, LocalSource(store), prefix=scope.prefix, repositories=repositories,
                       concurrency=concurrency, deprecations=deprecations, recheck=recheck)
    from ..content.remote.registry import RegistryClient

    client = RegistryClient(scope.source, config.registry())
    try:
        return refresh(db, RegistrySource(client), prefix=scope.prefix, repositories=repositories,
                       concurrency=concurrency, deprecations=deprecations, recheck=recheck)
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
