"""Local-store housekeeping: what the store holds (``df``) and freeing what nothing needs (``prune``).

Content is shared between repositories (blobs are stored once per digest), so ``df`` shows for each
repository the bytes it reaches and the bytes only it reaches (what removing it would free). Reclaimable
space is what GC would remove now: blobs no entry reaches, and the temporary files of runs that were
killed (interrupted packs and downloads). ``prune`` removes exactly that; with ``untagged`` it first drops
manifests kept without a tag (pulled by digest). A dry run reports the same numbers and changes nothing.
"""

from __future__ import annotations

from .content.layout import LocalStore, referrer_subject, split_ref_name
from .errors import StoreError
from .format.descriptor import Descriptor
from .format.mediatypes import ANN_REF_NAME
from .results import DiskUsage, Pruned, RepositoryUsage


def _size(path: object) -> int:
    try:
        return path.stat().st_size  # type: ignore[attr-defined,no-any-return]
    except FileNotFoundError:  # removed by a concurrent GC
        return 0


def _untagged(entries: list[Descriptor]) -> list[Descriptor]:
    """Entries kept by digest alone (``NAME@sha256:…``): pulled by digest, not tagged."""
    return [e for e in entries if split_ref_name(e.annotation(ANN_REF_NAME) or "")[2] is not None]


def _plan(store: LocalStore, untagged: bool) -> tuple[list[Descriptor], dict[str, int], int, int]:
    """(entries to drop, {blob digest: bytes} to remove, leftover files, their bytes)."""
    entries = store.entries()
    drop = _untagged(entries) if untagged else []
    kept = [e for e in entries if e not in drop]
    keep = store.reachable(kept)
    blobs = {f"sha256:{p.name}": _size(p) for p in store.blob_files()}
    unreached = {d: n for d, n in blobs.items() if d not in keep}
    leftovers = store.leftovers()
    return drop, unreached, len(leftovers), sum(_size(p) for p in leftovers)


def prune(store: LocalStore, *, untagged: bool = False, dry_run: bool = False) -> Pruned:
    """Remove unreachable blobs and leftovers of killed runs (and, with ``untagged``, manifests kept
    without a tag); with ``dry_run`` only say what would go."""
    drop, unreached, leftover_files, leftover_bytes = _plan(store, untagged)
    names = tuple(sorted(e.annotation(ANN_REF_NAME) or "" for e in drop))
    if not dry_run:
        if drop:
            store.update_entries(lambda es: [e for e in es if e not in drop])
        if store.gc() is None:
            raise StoreError("another modelcrate process is writing to the store; nothing was removed",
                             hint="run prune again when it has finished")
    return Pruned(dry_run=dry_run, blobs=len(unreached), bytes=sum(unreached.values()), leftovers=leftover_files,
                  leftover_bytes=leftover_bytes, untagged=names)


def disk_usage(store: LocalStore) -> DiskUsage:
    """The store's size, by repository, and what :func:`prune` would free now."""
    entries = store.live_entries(store.entries())
    by_repo: dict[str, list[Descriptor]] = {}
    for e in entries:
        name, tag, _dgst = split_ref_name(e.annotation(ANN_REF_NAME) or "")
        by_repo.setdefault(name, []).append(e)
    blobs = {f"sha256:{p.name}": _size(p) for p in store.blob_files()}
    reach = {name: store.reachable(es) for name, es in by_repo.items()}
    repos = []
    for name, es in sorted(by_repo.items()):
        others = set().union(*(r for n, r in reach.items() if n != name))
        models = [e for e in es if referrer_subject(split_ref_name(e.annotation(ANN_REF_NAME) or "")[1]) is None]
        repos.append(RepositoryUsage(name=name, models=len(models),
                                     size=sum(blobs.get(d, 0) for d in reach[name]),
                                     unique=sum(blobs.get(d, 0) for d in reach[name] - others)))
    _drop, unreached, leftover_files, leftover_bytes = _plan(store, untagged=False)
    return DiskUsage(root=str(store.root), total=sum(blobs.values()) + leftover_bytes, blobs=len(blobs),
                     reclaimable=sum(unreached.values()) + leftover_bytes, leftovers=leftover_files,
                     repositories=tuple(repos))
