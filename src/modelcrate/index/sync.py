"""Refresh the index from a registry or the local store: catalog → tags → manifests, never a blob.

Incremental by digest: a repository whose tags did not change costs one tag-list request. Version tags
are taken to be immutable, as releases are: a tag already indexed keeps its digest without a request.
Tags that move by design — the stage tags and ``latest`` — are resolved (a ``HEAD``); a new tag is one
``GET`` that brings its manifest along; only a manifest digest the index has never seen is parsed,
verified against that digest.
``recheck`` resolves every tag, for registries where version tags are rewritten. The ``sha256-<hex>``
referrers tags in the same lists say which models have referrers; only those are checked for signed
deprecation records (:mod:`.deprecations`: one HEAD each once known). Requests run in parallel with a
bound; rows are written in one transaction at the end, so an interrupted refresh leaves the previous
index intact, and a repository where nothing changed is not rewritten.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..content.layout import LocalStore, split_ref_name
from ..content.referrers import fallback_tag
from ..content.target import ReferrersAPI, Target, resolve_tag
from ..content.verify import read_all
from ..errors import AuthError, ModelcrateError, NotFound, RegistryError, UsageError
from ..format.descriptor import Descriptor
from ..format.mediatypes import ANN_REF_NAME, MAX_MANIFEST_BYTES
from ..format.reference import is_referrers_tag
from .db import DEFAULT_CONCURRENCY, LOCAL_SOURCE, DeprecationCheck, IndexDB, RepositoryState, under_prefix

if TYPE_CHECKING:  # imported when a refresh runs: an offline search loads neither HTTP nor signatures
    from ..content.remote.registry import RegistryClient
    from .deprecations import SignedDeprecations
from .records import DEFAULT_STAGES, manifest_fields

MOVING_TAGS = (*DEFAULT_STAGES, "latest")  # resolved on every refresh; other indexed tags are not


class CatalogUnavailable(UsageError):
    """The registry does not list its repositories (``/v2/_catalog`` is disabled or forbidden)."""


class Source(Protocol):
    """Where models are listed from: a registry or the local store."""

    name: str

    def repositories(self, prefix: str) -> list[str]: ...

    def target(self, repository: str) -> Target: ...


@dataclass
class RegistrySource:
    """A registry reached through one client (connections and auth shared by every request)."""

    client: RegistryClient

    @property
    def name(self) -> str:
        return self.client.registry

    def repositories(self, prefix: str) -> list[str]:
        try:
            found = self.client.catalog()
        except (AuthError, NotFound, RegistryError) as exc:
            status = getattr(exc, "status", None)
            if isinstance(exc, (AuthError, NotFound)) or status in (401, 403, 404, 405):
                raise CatalogUnavailable(
                    f"{self.name} does not list its repositories (GET /v2/_catalog: {exc})",
                    hint=f"search {self.name}/REPOSITORY (a name or prefix) or pass --repositories FILE") from None
            raise
        return [r for r in found if under_prefix(r, prefix)]

    def target(self, repository: str) -> Target:
        return self.client.repository(repository)


@dataclass
class LocalSource:
    store: LocalStore
    name: str = LOCAL_SOURCE

    def repositories(self, prefix: str) -> list[str]:
        names = {split_ref_name(e.annotation(ANN_REF_NAME) or "")[0] for e in self.store.entries()}
        return sorted(n for n in names if n and under_prefix(n, prefix))

    def target(self, repository: str) -> Target:
        return self.store.repository(repository)


@dataclass(frozen=True)
class SyncStats:
    """What one refresh did; ``fetched`` manifests crossed the network, ``reused`` were already indexed.
    ``deprecations_read``: referrers listings read for deprecation records (new or changed);
    ``not_counted``: deprecation records that did not count (unverified, malformed…), one line each."""

    source: str
    repositories: int = 0
    tags: int = 0
    fetched: int = 0
    reused: int = 0
    removed: int = 0
    seconds: float = 0.0
    skipped: tuple[str, ...] = field(default=())
    deprecations_read: int = 0
    not_counted: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "repositories": self.repositories, "tags": self.tags,
                "fetched": self.fetched, "reused": self.reused, "removed": self.removed,
                "seconds": round(self.seconds, 3), "skipped": list(self.skipped),
                "deprecationsRead": self.deprecations_read, "notCounted": list(self.not_counted)}


def _tag_list(target: Target) -> list[str]:
    lister = getattr(target, "tags", None)
    if lister is None:
        raise UsageError(f"{target.name} cannot list its tags")
    return list(lister())


def _fetch_fields(target: Target, desc: Descriptor) -> dict[str, Any] | None:
    with target.fetch(desc) as stream:  # verified against desc.digest as it is read
        return manifest_fields(read_all(stream, desc, MAX_MANIFEST_BYTES))


def refresh(db: IndexDB, source: Source, *, prefix: str = "", repositories: Sequence[str] | None = None,
            concurrency: int = DEFAULT_CONCURRENCY, deprecations: SignedDeprecations | None = None,
            recheck: bool = False, moving: Sequence[str] = MOVING_TAGS) -> SyncStats:
    """Bring the index up to date for ``source`` (repositories under ``prefix``, or exactly
    ``repositories``). A registry without a catalog raises :class:`CatalogUnavailable`, unless the prefix
    itself names a repository, which is then indexed alone. Deprecation records count when
    ``deprecations`` verifies them (:mod:`.deprecations`; by default nobody is trusted)."""
    from .deprecations import SignedDeprecations

    start = time.perf_counter()
    reader = deprecations if deprecations is not None else SignedDeprecations()
    names, listed = _repositories(source, prefix, repositories)
    known = db.known_digests()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        targets = {n: source.target(n) for n in names}
        raw_lists = dict(zip(names, pool.map(lambda n: _tags_or_none(targets[n]), names)))
        tag_lists = {n: None if t is None else [x for x in t if not is_referrers_tag(x)] for n, t in raw_lists.items()}
        skipped = tuple(n for n, t in tag_lists.items() if t is None)
        if skipped and not listed and len(skipped) == len(names):
            raise NotFound(f"{source.name}/{names[0]} has no tags or does not exist" if len(names) == 1
                           else f"none of the {len(names)} repositories named exist on {source.name}")
        recorded = {n: db.tags_of(source.name, n) for n in names}

        def resolve(pair: tuple[str, str]) -> Descriptor | str | None:
            """A descriptor from the registry, or the indexed digest of a version tag (no request)."""
            n, t = pair
            digest = recorded[n].get(t)
            if not recheck and t not in moving and digest is not None and digest in known:
                return digest
            return _resolve_or_none(targets[n], t, fetching=digest is None)

        pairs = [(n, t) for n in names for t in tag_lists[n] or []]
        current = {p: d for p, d in zip(pairs, pool.map(resolve, pairs)) if d is not None}
        fresh = {d.digest: (p[0], d) for p, d in current.items() if isinstance(d, Descriptor) and d.digest not in known}
        fetched = dict(zip(fresh, pool.map(lambda item: _fetch_fields(targets[item[0]], item[1]), fresh.values())))
        by_repo: dict[str, dict[str, str]] = {n: {} for n in names if tag_lists[n] is not None}
        for (n, t), d in current.items():
            by_repo[n][t] = d if isinstance(d, str) else d.digest
        models = {d for d, is_model in known.items() if is_model} | {d for d, f in fetched.items() if f is not None}
        checks, read = _deprecation_checks(pool, db, source, targets, by_repo, raw_lists, models, reader)
    states = [RepositoryState(source.name, n, tags, checks[n]) for n, tags in by_repo.items()]
    if listed:  # what the catalog no longer lists is gone
        gone = [r for r in db.repositories(source.name, prefix) if tag_lists.get(r) is None]
    else:
        gone = list(skipped)
    db.write(states, fetched, source=source.name, gone=gone)
    digests = [d for tags in by_repo.values() for d in tags.values()]
    not_counted = tuple(f"{source.name}/{n}@{d}: {line}" for n in sorted(checks)
                        for d, c in sorted(checks[n].items()) for line in c.skipped)
    return SyncStats(source.name, repositories=len(states), tags=len(digests), fetched=len(fetched),
                     reused=sum(1 for d in digests if d in known), removed=len(gone),
                     seconds=time.perf_counter() - start, skipped=skipped, deprecations_read=read,
                     not_counted=not_counted)


Checks = dict[str, dict[str, DeprecationCheck]]  # repository → model digest → its deprecation check


def _deprecation_checks(pool: ThreadPoolExecutor, db: IndexDB, source: Source, targets: dict[str, Target],
                        by_repo: dict[str, dict[str, str]], raw_lists: dict[str, list[str] | None],
                        models: set[str], reader: SignedDeprecations) -> tuple[Checks, int]:
    """The deprecation check of every tagged model with referrers, and how many listings were read (not
    reused). Models are known to have referrers from the ``sha256-<hex>`` tags in the tag lists."""
    from .deprecations import check

    api = _uses_referrers_api(targets, reader)
    work = []
    for n, tags in by_repo.items():
        listed = set(raw_lists[n] or [])
        prior = db.deprecation_checks(source.name, n)
        work += [(n, d, prior.get(d)) for d in sorted(set(tags.values()) & models)
                 if api or fallback_tag(d) in listed]

    def one(item: tuple[str, str, DeprecationCheck | None]) -> DeprecationCheck | None:
        n, d, prior = item
        return check(targets[n], d, prior, reader, api=api)  # never raises: a refresh is not stopped

    out: Checks = {n: {} for n in by_repo}
    read = 0
    for (n, d, prior), found in zip(work, pool.map(one, work)):
        if found is not None:
            out[n][d] = found
            read += found is not prior
    return out, read


def _uses_referrers_api(targets: dict[str, Target], reader: SignedDeprecations) -> bool:
    """Ask the referrers API (one probe per refresh) only where a record could count: with a verifier."""
    first = next(iter(targets.values()), None)
    if reader.verifier is None or not isinstance(first, ReferrersAPI):
        return False
    try:
        return first.has_referrers_api()
    except ModelcrateError:
        return False


def _repositories(source: Source, prefix: str, named: Sequence[str] | None) -> tuple[list[str], bool]:
    """The repositories to index and whether they came from the catalog (then missing ones are gone)."""
    if named is not None:
        return sorted(dict.fromkeys(named)), False
    try:
        return source.repositories(prefix), True
    except CatalogUnavailable:
        if not prefix:
            raise
        return [prefix.rstrip("/")], False


def _resolve_or_none(target: Target, tag: str, *, fetching: bool = False) -> Descriptor | None:
    """The tag's manifest; None when the tag was deleted after the list was read. A tag never seen
    (``fetching``) is resolved with a GET where the registry Target offers one, so that reading a new
    manifest costs one request, not a HEAD and a GET."""
    try:
        return resolve_tag(target, tag, fetching=fetching)
    except NotFound:
        return None


def _tags_or_none(target: Target) -> list[str] | None:
    """The repository's tags; None when it vanished between the catalog and now (or has none)."""
    try:
        return _tag_list(target)
    except NotFound:
        return None
