"""The local store: one OCI image layout holding many repositories.

Layout (OCI image-spec "Image Layout")::

    ROOT/oci-layout            {"imageLayoutVersion": "1.0.0"}
    ROOT/index.json            one entry per tag; annotation org.opencontainers.image.ref.name = "name:tag"
    ROOT/blobs/sha256/<hex>    content, read-only (0444), written once
    ROOT/ingest/               temp files being written; never read as content
    ROOT/.lock, ROOT/.gc.lock  advisory locks (index.json updates; garbage collection)

Writes are temp + fsync + rename, so a crash leaves either the old state or the new one. Blobs are
verified before they are renamed into ``blobs/``. ``index.json`` is updated read-modify-write under an
exclusive lock so concurrent ``pack`` runs do not lose each other's tags. Operations that add blobs hold
a shared GC lock for their whole run, so garbage collection never removes a blob a running pack has
written but not yet tagged. Garbage collection also drops referrer tags (the ``sha256-<hex>`` referrers
index, cosign's ``sha256-<hex>.sig``) whose subject the repository no longer holds, so a removed model's
signatures are freed with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .._internal.fsutil import FileSink, atomic_write, fsync_dir, hash_copy, locked, start_writeback, try_clone
from ..errors import NotFound, StoreError
from ..format import canonical, digest as _digest
from ..format.descriptor import Descriptor, build_index, declared_media_type, parse_index, successors
from ..format.mediatypes import ANN_REF_NAME, MANIFEST_TYPES, MAX_MANIFEST_BYTES, OCI_LAYOUT_VERSION, OCI_MANIFEST
from ..format.reference import validate_tag
from .blobfile import fetch_into, partial_name, partial_file
from .target import Fetcher
from .verify import read_all, verifying, drain

_INDEX_LIMIT = 64 * 1024 * 1024  # index.json grows with tags, not with model size


_REFERRER_TAG = re.compile(r"sha256-([0-9a-f]{64})(?:\.sig|\.att|\.sbom)?")


def referrer_subject(tag: str | None) -> str | None:
    """The subject digest a referrer tag is named for (``sha256-<hex>`` fallback index, cosign's
    ``sha256-<hex>.sig``/``.att``/``.sbom``); None for any other tag."""
    match = _REFERRER_TAG.fullmatch(tag or "")
    return f"sha256:{match.group(1)}" if match else None


def split_ref_name(ref_name: str) -> tuple[str, str | None, str | None]:
    """``"reg:5000/m:1"`` → ``("reg:5000/m", "1", None)``; ``"m@sha256:…"`` → ``("m", None, "sha256:…")``."""
    name, at, dgst = ref_name.partition("@")
    if at:
        return name, None, dgst
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:], None
    return name, None, None


# Blob directories with renames not yet fsync'ed (shared by every LocalStore of the process).
_UNSYNCED: set[Path] = set()


class LocalStore:
    """An OCI image layout at ``root`` shared by many repositories.

    >>> store = LocalStore(Path("/tmp/store"))          # doctest: +SKIP
    >>> repo = store.repository("localhost/bert")        # a Target
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs" / "sha256"
        self._ingest = self.root / "ingest"
        self._clone_ok = True
        self._init_layout()

    # ---- layout ---------------------------------------------------------------------------------
    def _init_layout(self) -> None:
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._ingest.mkdir(exist_ok=True)
            layout = self.root / "oci-layout"
            if not layout.exists():
                atomic_write(layout, canonical.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
            if not (self.root / "index.json").exists():
                with self._index_lock():
                    if not (self.root / "index.json").exists():
                        atomic_write(self.root / "index.json", build_index([]))
        except OSError as exc:
            raise StoreError(f"cannot use {self.root} as a store: {exc.strerror}",
                             hint="set MODELCRATE_HOME to a writable directory") from None

    def _index_lock(self) -> contextlib.AbstractContextManager[bool]:
        return locked(self.root / ".lock")

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold for the length of an operation that adds blobs: keeps GC from sweeping them."""
        with locked(self.root / ".gc.lock", shared=True):
            yield

    # ---- blobs ----------------------------------------------------------------------------------
    def blob_path(self, dgst: str) -> Path:
        return self._blobs / _digest.hex_of(dgst)

    def has_blob(self, dgst: str) -> bool:
        return self.blob_path(dgst).is_file()

    @contextlib.contextmanager
    def open_blob(self, desc: Descriptor) -> Iterator[BinaryIO]:
        try:
            f = open(self.blob_path(desc.digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {desc.digest} is not in the local store") from None
        with f:
            yield verifying(f, desc)  # type: ignore[misc]

    def push_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        """Store ``stream`` as ``desc``, verified before it becomes visible. Existing content is kept."""
        if self.has_blob(desc.digest):
            return
        reader = verifying(stream, desc)
        with self._temp() as (fd, tmp):
            drain(reader, FileSink(fd))  # the last read raises on a size or digest mismatch
            self._commit(fd, tmp, desc.digest)

    def pull_blob(self, desc: Descriptor, source: Fetcher, on_bytes: Callable[[int], None] | None = None) -> None:
        """Store blob ``desc`` fetched from ``source`` straight into its file: a registry writes it on one
        or more connections, and a download interrupted in an earlier run resumes from the bytes that run
        kept in ``ingest/partial-<hex>`` (hashed again first). Verified before it becomes visible."""
        if self.has_blob(desc.digest):
            return
        dir_fd = os.open(self._ingest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with partial_file(dir_fd, partial_name(desc)) as (fd, name, have):
                written = 0

                def hashed(n: int) -> None:  # bytes verified in order: start their writeback, so the
                    nonlocal written       # fsync before the rename has little left to wait for
                    start_writeback(fd, written, n)
                    written += n
                    if on_bytes is not None:
                        on_bytes(n)
                fetch_into(source, desc, fd, have=have, on_bytes=hashed)
                self._commit(fd, os.path.join(self._ingest, name), desc.digest)
                with contextlib.suppress(FileNotFoundError):  # the blob was there already
                    os.unlink(name, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)

    def ingest_file(self, path: str | os.PathLike[str], media_type: str) -> Descriptor:
        """Store a file whose digest is unknown: clone it where the filesystem allows (no data copy),
        else copy it while hashing, reading the source once either way."""
        with open(path, "rb") as src, self._temp() as (fd, tmp):
            if self._clone_ok and try_clone(src.fileno(), fd):
                with open(tmp, "rb") as clone:  # hash the clone: it is exactly what will be stored
                    hexd, size = hash_copy(clone.fileno(), None)
            else:
                self._clone_ok = False
                hexd, size = hash_copy(src.fileno(), fd)
            dgst = f"sha256:{hexd}"
            self._commit(fd, tmp, dgst)
        return Descriptor(media_type, dgst, size)

    def ingest_stream(self, stream: BinaryIO, media_type: str) -> Descriptor:
        """Store a stream whose digest is unknown (a tar layer being generated)."""
        with self._temp() as (fd, tmp):
            sink = FileSink(fd, _digest.hasher())
            drain(stream, sink)
            dgst = f"sha256:{sink.hasher.hexdigest()}"  # type: ignore[union-attr]
            self._commit(fd, tmp, dgst)
        return Descriptor(media_type, dgst, sink.written)

    @contextlib.contextmanager
    def _temp(self) -> Iterator[tuple[int, str]]:
        fd, tmp = tempfile.mkstemp(dir=self._ingest, prefix="blob-")
        try:
            yield fd, tmp
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _commit(self, fd: int, tmp: str, dgst: str) -> None:
        final = self.blob_path(dgst)
        if final.exists():
            return  # same digest, same bytes: keep the blob that is there, never rewrite it
        os.fsync(fd)
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)
        # The rename is made durable before the next index.json write (update_entries), not per blob:
        # until an entry reaches the blob, losing it in a crash loses nothing.
        _UNSYNCED.add(self._blobs)

    def read_small(self, desc: Descriptor, limit: int = MAX_MANIFEST_BYTES) -> bytes:
        with self.open_blob(desc) as f:
            return read_all(f, desc, limit)

    # ---- index.json -----------------------------------------------------------------------------
    def entries(self) -> list[Descriptor]:
        """Every manifest descriptor in index.json, with its annotations."""
        path = self.root / "index.json"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return []
        if len(raw) > _INDEX_LIMIT:
            raise StoreError(f"{path} is larger than {_INDEX_LIMIT} bytes")
        try:
            return list(parse_index(raw).manifests)
        except Exception as exc:
            raise StoreError(f"{path} is corrupt: {exc}",
                             hint="restore it from a backup, or move the store aside") from None

    def update_entries(self, change: Callable[[list[Descriptor]], list[Descriptor]]) -> None:
        """Read-modify-write index.json under the exclusive lock."""
        with self._index_lock():
            entries = change(self.entries())
            if self._blobs in _UNSYNCED:
                _UNSYNCED.discard(self._blobs)
                fsync_dir(self._blobs)
            atomic_write(self.root / "index.json", build_index(entries))

    def set_ref(self, ref_name: str, desc: Descriptor) -> None:
        entry = Descriptor(desc.media_type, desc.digest, desc.size, {ANN_REF_NAME: ref_name}, desc.artifact_type)
        self.update_entries(lambda es: [e for e in es if e.annotation(ANN_REF_NAME) != ref_name] + [entry])

    def remove_ref(self, ref_name: str) -> Descriptor:
        removed: list[Descriptor] = []

        def change(es: list[Descriptor]) -> list[Descriptor]:
            removed.extend(e for e in es if e.annotation(ANN_REF_NAME) == ref_name)
            return [e for e in es if e.annotation(ANN_REF_NAME) != ref_name]

        self.update_entries(change)
        if not removed:
            raise NotFound(f"{ref_name} is not in the local store")
        return removed[0]

    def repository(self, name: str) -> "LocalRepository":
        return LocalRepository(self, name)

    # ---- garbage collection ---------------------------------------------------------------------
    def gc(self) -> tuple[int, int] | None:
        """Remove referrer tags whose subject is gone, then blobs no entry reaches.

        Returns (blobs, bytes) removed, or None while a writer runs.
        """
        with locked(self.root / ".gc.lock", blocking=False) as got:
            if not got:
                return None
            self.update_entries(self._live_entries)
            keep: set[str] = set()
            self._reach(self.entries(), keep)
            removed = freed = 0
            for path in self._blobs.iterdir():
                if f"sha256:{path.name}" not in keep:
                    freed += path.stat().st_size
                    path.unlink()
                    removed += 1
            for path in self._ingest.iterdir():  # leftovers of killed runs; no writer holds the lock
                path.unlink()
            return removed, freed

    def reachable(self, entries: list[Descriptor]) -> set[str]:
        """Every digest ``entries`` reach (what GC keeps when these are the index's entries)."""
        keep: set[str] = set()
        self._reach(self.live_entries(entries), keep)
        return keep

    def live_entries(self, entries: list[Descriptor]) -> list[Descriptor]:
        """``entries`` without referrer tags whose subject is gone (what GC keeps of the index)."""
        return self._live_entries(entries)

    def blob_files(self) -> list[Path]:
        return list(self._blobs.iterdir())

    def leftovers(self) -> list[Path]:
        """Temporary files of runs that were killed (interrupted packs and downloads), when no writer runs."""
        return list(self._ingest.iterdir())

    def _reach(self, todo: list[Descriptor], keep: set[str]) -> None:
        """Add to ``keep`` every digest reachable from ``todo`` (manifests, their configs, layers, children)."""
        todo = list(todo)
        while todo:
            desc = todo.pop()
            if desc.digest in keep:
                continue
            keep.add(desc.digest)
            if desc.media_type in MANIFEST_TYPES and self.has_blob(desc.digest):
                todo.extend(successors(desc, self.read_small(desc)))

    def _live_entries(self, entries: list[Descriptor]) -> list[Descriptor]:
        """``entries`` without the referrer tags (``sha256-<hex>``, ``.sig``…) whose subject no live entry of
        the same repository reaches. A referrer kept alive keeps its own referrers alive (to a fixpoint)."""
        live: list[Descriptor] = []
        pending: list[tuple[str, str, Descriptor]] = []
        reached: dict[str, set[str]] = {}
        for e in entries:
            name, tag, _d = split_ref_name(e.annotation(ANN_REF_NAME) or "")
            subject = referrer_subject(tag)
            if subject is None:
                live.append(e)
                self._reach([e], reached.setdefault(name, set()))
            else:
                pending.append((name, subject, e))
        progress = True
        while progress:
            progress = False
            for item in list(pending):
                name, subject, e = item
                if subject in reached.get(name, ()):
                    pending.remove(item)
                    live.append(e)
                    self._reach([e], reached[name])
                    progress = True
        kept = {id(e) for e in live}
        return [e for e in entries if id(e) in kept]  # in their original order


class LocalRepository:
    """One repository's view of a :class:`LocalStore`: a Target. Blobs are shared across repositories."""

    def __init__(self, store: LocalStore, name: str) -> None:
        self.store = store
        self.name = name

    def __repr__(self) -> str:
        return f"LocalRepository({self.name!r})"

    def exists(self, desc: Descriptor) -> bool:
        return self.store.has_blob(desc.digest)

    def fetch(self, desc: Descriptor) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.store.open_blob(desc)

    def push(self, desc: Descriptor, stream: BinaryIO) -> None:
        self.store.push_blob(desc, stream)

    def pull_blob(self, desc: Descriptor, source: Fetcher, on_bytes: Callable[[int], None] | None = None) -> None:
        self.store.pull_blob(desc, source, on_bytes)

    def ingest_file(self, path: str, media_type: str) -> Descriptor:
        return self.store.ingest_file(path, media_type)

    def ingest_stream(self, stream: BinaryIO, media_type: str) -> Descriptor:
        return self.store.ingest_stream(stream, media_type)

    def _own_entries(self) -> list[tuple[str | None, str | None, Descriptor]]:
        out = []
        for e in self.store.entries():
            name, tag, dgst = split_ref_name(e.annotation(ANN_REF_NAME) or "")
            if name == self.name:
                out.append((tag, dgst, e))
        return out

    def resolve(self, reference: str) -> Descriptor:
        if _digest.is_digest(reference):
            for _tag, _d, e in self._own_entries():
                if e.digest == reference:
                    return e.bare()
            if self.store.has_blob(reference):  # untagged, e.g. a referrer: read its media type
                return _sniff(self.store, reference)
            raise NotFound(f"{self.name}@{reference} is not in the local store")
        for tag, _d, e in self._own_entries():
            if tag == reference:
                return e.bare()
        raise NotFound(f"{self.name}:{reference} is not in the local store",
                       hint="see `modelcrate list`, or pull it first")

    def tag(self, desc: Descriptor, tag: str) -> None:
        validate_tag(tag)
        self._set_ref(f"{self.name}:{tag}", desc, f"cannot tag {self.name}:{tag}")

    def keep(self, desc: Descriptor) -> None:
        """Record an untagged manifest (pulled by digest) so GC keeps it."""
        self._set_ref(f"{self.name}@{desc.digest}", desc, f"cannot keep {self.name}@{desc.digest}")

    def _set_ref(self, ref_name: str, desc: Descriptor, what: str) -> None:
        """Point ``ref_name`` at ``desc`` under the shared GC lock, as every writer holds it: GC either
        finished before (then a collected manifest is refused here) or waits until the entry keeps it."""
        with self.store.writing():
            if not self.store.has_blob(desc.digest):
                raise NotFound(f"{what}: manifest {desc.digest} is not in the local store")
            self.store.set_ref(ref_name, desc)

    def tag_lock(self) -> contextlib.AbstractContextManager[bool]:
        """Serialises read-modify-write of tags such as the referrers index across processes."""
        return locked(self.store.root / ".tags.lock")

    def untag(self, tag: str) -> Descriptor:
        return self.store.remove_ref(f"{self.name}:{tag}")

    def tags(self) -> list[str]:
        return sorted(t for t, _d, _e in self._own_entries() if t)


def _sniff(store: LocalStore, dgst: str) -> Descriptor:
    """Descriptor for an untagged manifest blob, its media type read from the JSON."""
    path = store.blob_path(dgst)
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise NotFound(f"{dgst} is not a manifest")
    mt = declared_media_type(store.read_small(Descriptor(OCI_MANIFEST, dgst, size)))
    if mt is None:
        raise NotFound(f"{dgst} is not a manifest")
    return Descriptor(mt, dgst, size)
