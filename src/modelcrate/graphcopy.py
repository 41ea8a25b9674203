"""One graph copy between any two Targets: it serves push, pull, copy and re-tag.

:func:`copy_graph` copies the DAG below one root; :func:`extended_copy` also carries the root's referrers
(signatures, attestations, and their own referrers) along, as oras-go's ``ExtendedCopy`` does; :func:`copy`
resolves a reference, runs the extended copy and tags the result.

Blobs first (in parallel), then manifests bottom-up, then the tag: a manifest never lands before the
content it points at, and a failed copy leaves no tag behind. A node the destination already has is
skipped with everything below it. Every byte goes through a verifying reader on the way.

Parallelism has one knob, ``concurrency``, split inside (see :func:`blob_slots`): a small blob costs a few
round trips and almost no bandwidth, so small blobs run several times as many at once as big ones, whose
parallelism is the knob itself. Each blob's existence check runs on the worker that copies it, so the
round trips of a 500-file model overlap instead of queueing one after another.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from .config import DEFAULT_CONCURRENCY
from .content import referrers
from .content.target import BlobPuller, Target, UploadStarter
from .content.verify import read_all
from .errors import CopyError, InvalidManifest, ModelcrateError, StoreError
from .format import digest as _digest
from .format.descriptor import Descriptor, is_manifest_type, successors
from .format.mediatypes import MAX_MANIFEST_BYTES

# Bounds on graphs read from a source, which anyone with push access there shapes. Real models are an
# index at most over manifests (depth 2); signatures of attestations make referrers two levels deep.
MAX_GRAPH_DEPTH = 32  # manifests nested below one root
MAX_REFERRER_DEPTH = 8  # referrers of referrers carried by one extended copy
MAX_REFERRERS_COPIED = 4096  # referrer manifests carried by one extended copy

SMALL_BLOB = 1 << 20  # at most this many bytes: latency-bound, so more run at once
SMALL_FACTOR = 4  # small blobs in flight per unit of ``concurrency``
MAX_SMALL_SLOTS = 32


def blob_slots(concurrency: int, sizes: list[int] | None = None) -> int:
    """How many transfers to run at once for blobs of ``sizes`` under the user's ``concurrency``: the knob
    itself when any blob is big, several times it (bounded) when all are small."""
    concurrency = max(1, concurrency)
    if sizes is not None and any(size > SMALL_BLOB for size in sizes):
        return concurrency
    return min(MAX_SMALL_SLOTS, concurrency * SMALL_FACTOR) if concurrency > 1 else 1


class Progress:
    """Receives copy events; the CLI's progress bars subclass it. Methods may be called from threads."""

    def start(self, desc: Descriptor) -> None: ...
    def advance(self, desc: Descriptor, nbytes: int) -> None: ...
    def done(self, desc: Descriptor) -> None: ...
    def skipped(self, desc: Descriptor) -> None: ...
    def mounted(self, desc: Descriptor) -> None: ...
    # pack and push DIR, before any copy: the bytes of the files about to be hashed, then each chunk read
    def hashing(self, nbytes: int) -> None: ...
    def hashed(self, nbytes: int) -> None: ...


@dataclass
class CopyOptions:
    """How to copy. ``referrers`` carries signatures and attestations along; ``mount_from`` names a
    repository on the destination registry to mount blobs from first (before those the blobs were seen
    in)."""

    concurrency: int = DEFAULT_CONCURRENCY
    referrers: bool = True
    max_metadata_bytes: int = MAX_MANIFEST_BYTES
    progress: Progress = field(default_factory=Progress)
    mount_from: str | None = None


@dataclass
class CopyResult:
    """What a copy did: the root descriptor and how much moved."""

    descriptor: Descriptor
    copied: int = 0
    skipped: int = 0
    mounted: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    referrers: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _add(self, what: str, desc: Descriptor) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)
            if what == "copied":
                self.bytes_copied += desc.size
            else:
                self.bytes_skipped += desc.size


def copy(src: Target, src_ref: str | Descriptor, dst: Target, dst_ref: str | None = None,
         options: CopyOptions | None = None) -> CopyResult:
    """Copy the graph at ``src_ref`` (tag or digest, or the root descriptor already resolved) from ``src``
    to ``dst`` and tag it ``dst_ref``.

    >>> copy(local.repository("localhost:5000/bert"), "1.0", registry_repo, "1.0")   # doctest: +SKIP
    """
    options = options or CopyOptions()
    if isinstance(src_ref, Descriptor):
        root = src_ref
    else:
        try:
            root = src.resolve(src_ref)
        except ModelcrateError as exc:
            raise CopyError("resolve " + src_ref, "source", exc) from exc
    result = extended_copy(src, dst, root, options) if options.referrers else copy_graph(src, dst, root, options)
    if dst_ref and not _digest.is_digest(dst_ref):
        try:
            dst.tag(root, dst_ref)
        except ModelcrateError as exc:
            raise CopyError(f"tag {dst_ref}", "destination", exc) from exc
    return result


def copy_graph(src: Target, dst: Target, root: Descriptor, options: CopyOptions | None = None) -> CopyResult:
    """Copy the DAG below ``root``; the destination verifies every node it receives."""
    options = options or CopyOptions()
    result = CopyResult(root)
    if _exists(dst, root):
        options.progress.skipped(root)
        result._add("skipped", root)
        return result
    manifests: dict[Descriptor, bytes] = {}
    blobs: dict[Descriptor, None] = {}
    _walk(src, dst, root, options, manifests, blobs, result)
    _copy_blobs(src, dst, list(blobs), options, result)
    # _walk records children before parents, so this order pushes bottom-up.
    for desc, raw in manifests.items():
        try:
            dst.push(desc, io.BytesIO(raw))
        except ModelcrateError as exc:
            raise CopyError(f"push manifest {desc.digest}", "destination", exc) from exc
        options.progress.done(desc)
        result._add("copied", desc)
    return result


def _copy_blobs(src: Target, dst: Target, blobs: list[Descriptor], options: CopyOptions,
                result: CopyResult) -> None:
    """Copy ``blobs`` not yet in ``dst``: big ones ``concurrency`` at a time, small ones alongside them in
    the extra slots of :func:`blob_slots` (big ones are started first, they take longest)."""
    if not blobs:
        return
    big = threading.BoundedSemaphore(max(1, options.concurrency))
    slots = min(len(blobs), max(blob_slots(options.concurrency), options.concurrency))

    def one(desc: Descriptor) -> None:
        state = _begin(dst, desc, options)
        if state in ("present", "mounted"):
            getattr(options.progress, "skipped" if state == "present" else "mounted")(desc)
            result._add("skipped" if state == "present" else "mounted", desc)
            return
        if desc.size <= SMALL_BLOB:
            _copy_blob(src, dst, desc, options, result)
            return
        with big:
            _copy_blob(src, dst, desc, options, result)

    ordered = sorted(blobs, key=lambda d: d.size, reverse=True)
    if slots <= 1:
        for desc in ordered:
            one(desc)
        return
    with ThreadPoolExecutor(slots, thread_name_prefix="modelcrate-copy") as pool:
        futures = [pool.submit(one, d) for d in ordered]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def extended_copy(src: Target, dst: Target, root: Descriptor, options: CopyOptions | None = None) -> CopyResult:
    """Copy the DAG below ``root`` and then every referrer of it, recursively, each made discoverable
    from its subject on ``dst`` (the referrers API, the fallback index, or cosign's ``.sig`` tag)."""
    options = options or CopyOptions()
    result = copy_graph(src, dst, root, options)
    try:
        result.referrers = _copy_referrers(src, dst, root, options)
    except CopyError:
        raise
    except ModelcrateError as exc:
        raise CopyError("copy referrers", "destination", exc) from exc
    return result


def _copy_referrers(src: Target, dst: Target, root: Descriptor, options: CopyOptions) -> int:
    """Copy the referrers of ``root``, their referrers, and so on: breadth first, each referrer once,
    at most :data:`MAX_REFERRER_DEPTH` levels and :data:`MAX_REFERRERS_COPIED` in all. Anyone who can push
    to the source decides this graph (a manifest tagged as its own cosign ``.sig`` is its own referrer)."""
    seen = {root.digest}
    level = [root]
    count = 0
    for _depth in range(MAX_REFERRER_DEPTH):
        below: list[Descriptor] = []
        for subject in level:
            for r in referrers.list_referrers(src, subject):
                if r.descriptor.digest in seen:
                    continue
                if count >= MAX_REFERRERS_COPIED:
                    raise CopyError("copy referrers", "source", InvalidManifest(
                        f"more than {MAX_REFERRERS_COPIED} referrers below {root.digest}"))
                seen.add(r.descriptor.digest)
                copy_graph(src, dst, r.descriptor, options)
                if r.legacy:
                    dst.tag(r.descriptor, referrers.cosign_signature_tag(subject.digest))
                else:
                    referrers.register(dst, subject, r.descriptor)
                count += 1
                below.append(r.descriptor)
        if not below:
            break
        level = below
    return count


def _exists(dst: Target, desc: Descriptor) -> bool:
    try:
        return dst.exists(desc)
    except ModelcrateError as exc:
        raise CopyError(f"check {desc.digest}", "destination", exc) from exc


def _walk(src: Target, dst: Target, root: Descriptor, options: CopyOptions,
          manifests: dict[Descriptor, bytes], blobs: dict[Descriptor, None], result: CopyResult) -> None:
    """Record the manifests below ``root`` children first (so pushing in order goes bottom-up) and the
    blobs. Iterative, with each node visited once and at most :data:`MAX_GRAPH_DEPTH` manifests deep:
    the graph comes from the source, and a hostile one must not exhaust the stack."""
    stack = [_open_node(src, root, options)]
    while stack:
        desc, raw, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            manifests[desc] = raw
        elif child in manifests or child in blobs:
            continue
        elif not is_manifest_type(child.media_type):
            blobs[child] = None  # checked on the worker that copies it
        elif _exists(dst, child):
            options.progress.skipped(child)
            result._add("skipped", child)
        elif len(stack) >= MAX_GRAPH_DEPTH:
            raise CopyError(f"fetch manifest {child.digest}", "source", InvalidManifest(
                f"manifests nested more than {MAX_GRAPH_DEPTH} deep below {root.digest}"))
        else:
            stack.append(_open_node(src, child, options))


def _open_node(src: Target, desc: Descriptor, options: CopyOptions
               ) -> tuple[Descriptor, bytes, Iterator[Descriptor]]:
    try:
        with src.fetch(desc) as stream:
            raw = read_all(stream, desc, options.max_metadata_bytes)
        return desc, raw, iter(successors(desc, raw))
    except ModelcrateError as exc:
        raise CopyError(f"fetch manifest {desc.digest}", "source", exc) from exc


def _begin(dst: Target, desc: Descriptor, options: CopyOptions) -> str:
    """"present", "mounted" or "upload" for a blob: a registry answers with one request that also mounts
    the blob from where it was seen (see :class:`~modelcrate.content.target.UploadStarter`); any other
    destination is asked ``exists``."""
    if not isinstance(dst, UploadStarter):
        return "present" if _exists(dst, desc) else "upload"
    try:
        return dst.begin_upload(desc, options.mount_from)
    except ModelcrateError as exc:
        raise CopyError(f"check {desc.digest}", "destination", exc) from exc


def _copy_blob(src: Target, dst: Target, desc: Descriptor, options: CopyOptions, result: CopyResult) -> None:
    options.progress.start(desc)
    if isinstance(dst, BlobPuller):  # the local store: written straight into its file, resumable
        try:
            dst.pull_blob(desc, src, lambda n: options.progress.advance(desc, n))
        except StoreError as exc:
            raise CopyError(f"store blob {desc.digest}", "destination", exc) from exc
        except ModelcrateError as exc:
            raise CopyError(f"fetch blob {desc.digest}", "source", exc) from exc
        options.progress.done(desc)
        result._add("copied", desc)
        return
    try:
        with src.fetch(desc) as stream:
            counted = _Counting(stream, desc, options.progress)
            try:
                dst.push(desc, counted)  # type: ignore[arg-type]
            except ModelcrateError as exc:
                if counted.source_error is not None:
                    raise counted.source_error from exc
                raise CopyError(f"push blob {desc.digest}", "destination", exc) from exc
    except CopyError:
        raise
    except ModelcrateError as exc:
        raise CopyError(f"fetch blob {desc.digest}", "source", exc) from exc
    options.progress.done(desc)
    result._add("copied", desc)


class _Counting(io.RawIOBase):
    """Reports bytes read to the progress hook and remembers errors raised by the source side."""

    def __init__(self, stream: BinaryIO, desc: Descriptor, progress: Progress) -> None:
        super().__init__()
        self._stream, self.desc, self._progress = stream, desc, progress
        self.verifies = getattr(stream, "verifies", None)
        self.source_error: ModelcrateError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        try:
            n = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        except ModelcrateError as exc:
            self.source_error = CopyError(f"fetch blob {self.desc.digest}", "source", exc)
            raise
        if n:
            self._progress.advance(self.desc, n)
        return n or 0
