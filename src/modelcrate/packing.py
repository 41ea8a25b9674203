"""pack: a model directory plus modelcrate.yaml becomes a model manifest in a Target.

``plan()`` decides which files go into which layers (no writes); ``pack()`` stores each file once, hashing
while it copies, then writes the config and manifest and finally the tag, so an interrupted pack leaves
no tag pointing at missing content.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import os
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from .config import DEFAULT_CONCURRENCY
from .content.target import Target
from ._internal.fsutil import hash_copy
from ._internal.inputs import read_regular_file
from .content.verify import verifying
from .errors import InvalidModelfile, NotFound, UsageError
from .filedigests import FileKey, check_unchanged
from .format import metadata as _metadata, modelfile as _modelfile
from .format.descriptor import Descriptor
from .format.mediatypes import MAX_LAYERS, MODEL_CONFIG, OCI_MANIFEST, layer_media_type
from .format.model import build_config, build_model_manifest, layer_descriptor, normalize_mode, sort_layers

if TYPE_CHECKING:
    from .graphcopy import Progress

_GLOB_CHARS = set("*?[")
OnBytes = Callable[[int], None] | None  # hears each chunk hashed (progress)

Opener = Callable[[], contextlib.AbstractContextManager[BinaryIO]]


class BigFiles(Protocol):
    """Describes the raw files of at least ``min_size`` bytes of a staged model other than by hashing them
    first (``push DIR`` uploads them as it hashes them: :mod:`modelcrate.onepass`)."""

    min_size: int

    def describe(self, path: Path, name: str, media_type: str) -> tuple[Descriptor, Opener] | None:
        """The file's descriptor and how to read it, or None to have it hashed here."""


@dataclass(frozen=True)
class PlannedLayer:
    """One layer to write: a single file (raw) or a directory's files (tar), with normalized paths."""

    path: str  # the layer's org.cncf.model.filepath
    kind: str
    archive: bool
    members: tuple[str, ...]  # relative POSIX paths of the files inside (one for raw layers)


@dataclass(frozen=True)
class PackPlan:
    directory: Path
    metadata: dict[str, Any]
    layers: tuple[PlannedLayer, ...]


@dataclass(frozen=True)
class PackResult:
    descriptor: Descriptor
    manifest: bytes
    layers: tuple[Descriptor, ...]


Store = Callable[[PlannedLayer, str, OnBytes], Descriptor]  # how one layer is stored (or only hashed)


def created_from_epoch(epoch: str) -> str:
    """RFC 3339 UTC text for a ``SOURCE_DATE_EPOCH`` value."""
    try:
        when = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise UsageError(f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, got {epoch[:40]!r}") from None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def plan(directory: str | os.PathLike[str], modelfile: str | os.PathLike[str] | None = None,
         *, source_date_epoch: str | None = None, follow_external_symlinks: bool = False) -> PackPlan:
    """Read modelcrate.yaml and match its ``files`` rules against the directory (a symlink that leaves
    the directory is refused unless ``follow_external_symlinks``: see :func:`walk`)."""
    root = Path(directory)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    mf_path = Path(modelfile) if modelfile else root / _modelfile.FILENAME
    if not os.path.lexists(mf_path):
        raise UsageError(f"{mf_path} not found", hint="run `modelcrate init DIR` to write one")
    text = read_regular_file(mf_path, _modelfile.MAX_BYTES, "the modelfile", error=InvalidModelfile)
    mf = _modelfile.parse(text, str(mf_path.name))
    meta = dict(mf.metadata)
    if "created" not in meta and source_date_epoch:
        meta["created"] = created_from_epoch(source_date_epoch)
    _metadata.validate(meta)
    layers = _match(root, mf, mf_path.name, walk(root, follow_external_symlinks=follow_external_symlinks))
    if len(layers) > MAX_LAYERS:
        raise InvalidModelfile(f"{mf_path.name}: {len(layers)} layers, over the limit of {MAX_LAYERS}",
                               hint="group small files into a directory with archive: true")
    return PackPlan(root, meta, tuple(layers))


def walk(root: Path, *, follow_external_symlinks: bool = False) -> list[str]:
    """Relative POSIX paths of the regular files below ``root``, the one walk of a model directory.

    A file symlink counts as its content when it resolves inside ``root``. One that resolves outside
    is refused, naming the link and its target: packing it would publish a file of the packer's
    machine (``/etc/passwd``, ``/proc/self/environ``, a key) that no one meant to ship; pass
    ``follow_external_symlinks`` to allow it. Directory symlinks are never followed, so there are no
    loops and nothing below them is picked up."""
    real_root = root.resolve()
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath, name)
            if full.is_symlink() and not follow_external_symlinks:
                _inside(real_root, full, root)
            if full.is_file():
                out.append(full.relative_to(root).as_posix())
    return sorted(out, key=lambda p: p.encode("utf-8", "surrogateescape"))


def _inside(real_root: Path, link: Path, root: Path) -> None:
    target = Path(os.path.realpath(link))
    if target != real_root and real_root not in target.parents:
        raise UsageError(f"{link.relative_to(root).as_posix()} is a symlink to {os.readlink(link)}, outside {root}",
                         hint="copy the file into the directory, or pass --follow-external-symlinks")


def _packable(rel: str) -> str:
    """Refuse names a reader would refuse (spec/format.md path rules), before anything is stored."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"cannot pack {rel!r}: the file name is not valid UTF-8") from None
    if "\\" in rel or (len(rel) > 1 and rel[1] == ":"):
        raise UsageError(f"cannot pack {rel!r}: backslashes and drive-like prefixes are not portable paths")
    return rel


def _match(root: Path, mf: _modelfile.Modelfile, source: str, files: list[str]) -> list[PlannedLayer]:
    claimed: set[str] = set()
    layers: list[PlannedLayer] = []
    for rule in mf.files:
        pattern = rule.path.strip("/")
        if not pattern or pattern.startswith("../") or "/../" in f"/{pattern}/" or rule.path.startswith("/"):
            raise InvalidModelfile(f"{source}: line {rule.line}: path {rule.path!r} must be relative, inside the directory")
        if rule.archive:
            members = [f for f in files if f.startswith(pattern + "/") and f not in claimed]
            if not (root / pattern).is_dir():
                raise InvalidModelfile(f"{source}: line {rule.line}: {rule.path!r} is not a directory (archive: true)")
            if not members:
                raise InvalidModelfile(f"{source}: line {rule.line}: directory {rule.path!r} holds no files")
            claimed.update(members)
            layers.append(PlannedLayer(pattern, rule.kind, True, tuple(_packable(m) for m in members)))
            continue
        if _GLOB_CHARS & set(pattern):
            # a glob never picks up the modelfile itself or hidden files; name those explicitly if wanted
            matched = [f for f in files if fnmatchcase(f, pattern) and f != source
                       and not any(part.startswith(".") for part in f.split("/"))]
        elif (root / pattern).is_dir():
            matched = [f for f in files if f.startswith(pattern + "/")]
        else:
            matched = [pattern] if pattern in files else []
        if not matched:
            raise InvalidModelfile(f"{source}: line {rule.line}: {rule.path!r} matches no file in {root}")
        for f in matched:
            if f not in claimed:  # the first rule that matches a file decides its kind
                claimed.add(f)
                layers.append(PlannedLayer(_packable(f), rule.kind, False, (f,)))
    return layers


def pack(p: PackPlan, target: Target, tag: str | None, *, concurrency: int = DEFAULT_CONCURRENCY,
         progress: Progress | None = None) -> PackResult:
    """Store every planned layer (``concurrency`` files at a time), the config and the manifest in
    ``target``; tag it last. ``progress`` hears ``done`` for each layer stored."""
    ingest_file = getattr(target, "ingest_file", None)
    ingest_stream = getattr(target, "ingest_stream", None)
    if ingest_file is None or ingest_stream is None:
        raise UsageError(f"{target.name} cannot ingest files directly; pack into the local store, then copy")

    def store(planned: PlannedLayer, media_type: str, on_bytes: OnBytes) -> Descriptor:
        if planned.archive:
            return _with_tar(p.directory, planned, lambda r: ingest_stream(r, media_type, on_bytes))
        return ingest_file(str(p.directory / planned.path), media_type, on_bytes)

    layers = _layers(p, store, concurrency, progress)
    config, config_desc, manifest, desc = _finish(p, layers)
    target.push(config_desc, io.BytesIO(config))
    target.push(desc, io.BytesIO(manifest))
    if tag:
        target.tag(desc, tag)
    return PackResult(desc, manifest, tuple(sort_layers(layers)))


def _layers(p: PackPlan, store: Store, concurrency: int, progress: Progress | None = None) -> list[Descriptor]:
    """Every planned layer, in plan order, ``concurrency`` files at a time. sha256 runs at about the speed
    of one core and releases the GIL, so files hashed side by side use every core (benchmarks/pack.py).
    ``progress`` hears the bytes to read, then each chunk as it is hashed, from inside the hash loop."""
    on_bytes = None
    if progress is not None:
        progress.hashing(sum((p.directory / m).stat().st_size for planned in p.layers for m in planned.members))
        on_bytes = progress.hashed

    def one(planned: PlannedLayer) -> Descriptor:
        desc = _layer(p, planned, store, on_bytes)
        if progress is not None:
            progress.done(desc)
        return desc

    if concurrency <= 1 or len(p.layers) <= 1:
        return [one(planned) for planned in p.layers]
    pool = ThreadPoolExecutor(min(concurrency, len(p.layers)), thread_name_prefix="modelcrate-pack")
    try:
        return list(pool.map(one, p.layers))
    finally:  # on an error or Ctrl-C, files not started are not started
        pool.shutdown(wait=True, cancel_futures=True)


def _layer(p: PackPlan, planned: PlannedLayer, store: Store, on_bytes: OnBytes) -> Descriptor:
    fmt = "tar" if planned.archive else "raw"
    desc = store(planned, layer_media_type(planned.kind, fmt), on_bytes)
    mode = 0o755 if planned.archive else normalize_mode((p.directory / planned.path).stat().st_mode)
    return layer_descriptor(planned.kind, fmt, planned.path, desc.digest, desc.size, mode)


def _finish(p: PackPlan, layers: list[Descriptor]) -> tuple[bytes, Descriptor, bytes, Descriptor]:
    layers = sort_layers(layers)
    config = build_config(p.metadata, [d.digest for d in layers])
    config_desc = Descriptor.of(MODEL_CONFIG, config)
    manifest = build_model_manifest(config_desc, layers, p.metadata)
    return config, config_desc, manifest, Descriptor.of(OCI_MANIFEST, manifest)


def stage(p: PackPlan, *, concurrency: int = DEFAULT_CONCURRENCY, progress: Progress | None = None,
          big: BigFiles | None = None) -> tuple["SourceTarget", Descriptor]:
    """Describe the planned model without storing it: a read-only Target that serves each file from
    disk (tar layers are regenerated, byte for byte, on each read). ``push DIR REF`` copies from it,
    so model data is never copied into the local store. Each file is hashed here (a file written while
    it is hashed is an error), except the big raw files ``big`` describes."""
    blobs: dict[str, tuple[Opener, Descriptor]] = {}

    def hash_only(planned: PlannedLayer, media_type: str, on_bytes: OnBytes) -> Descriptor:
        path = p.directory / planned.path
        found = None if planned.archive or big is None or path.stat().st_size < big.min_size else \
            big.describe(path, planned.path, media_type)
        if found is not None:
            described, read = found
            blobs[described.digest] = (read, described)
            return described
        if planned.archive:
            def opener() -> contextlib.AbstractContextManager[BinaryIO]:
                return _tar_stream(p.directory, planned)
            with opener() as r:
                hexd, size = hash_copy(r.fileno(), None, on_bytes)
        else:
            def opener() -> contextlib.AbstractContextManager[BinaryIO]:
                return open(path, "rb")
            with opener() as r:
                before = FileKey.of_fd(r.fileno())
                hexd, size = hash_copy(r.fileno(), None, on_bytes)
                check_unchanged(r.fileno(), before, planned.path)
        desc = Descriptor(media_type, f"sha256:{hexd}", size)
        blobs[desc.digest] = (opener, desc)
        return desc

    layers = _layers(p, hash_only, concurrency, progress)
    config, config_desc, manifest, desc = _finish(p, layers)
    for raw, d in ((config, config_desc), (manifest, desc)):
        blobs[d.digest] = (lambda raw=raw: contextlib.nullcontext(io.BytesIO(raw)), d)
    return SourceTarget(str(p.directory), blobs, desc), desc


class SourceTarget:
    """A read-only Target over a model directory being pushed (see :func:`stage`)."""

    def __init__(self, name: str, blobs: dict[str, Any], root: Descriptor) -> None:
        self.name = name
        self._blobs = blobs
        self._root = root

    def exists(self, desc: Descriptor) -> bool:
        return desc.digest in self._blobs

    @contextlib.contextmanager
    def fetch(self, desc: Descriptor) -> Iterator[BinaryIO]:
        if desc.digest not in self._blobs:
            raise NotFound(f"{desc.digest} is not part of {self.name}")
        opener, known = self._blobs[desc.digest]
        with opener() as stream:  # a file edited since staging fails verification at the sink
            yield verifying(stream, known)

    def push(self, desc: Descriptor, stream: BinaryIO) -> None:
        raise UsageError(f"{self.name} is a source directory; it cannot receive content")

    def resolve(self, reference: str) -> Descriptor:
        # The directory holds one artifact: the packed root, by its digest. Other names (a referrers
        # fallback tag, say) are absent, so a copy finds no referrers here rather than the model itself.
        if reference != self._root.digest:
            raise NotFound(f"{reference} is not part of {self.name}")
        return self._root

    def tag(self, desc: Descriptor, tag: str) -> None:
        raise UsageError(f"{self.name} is a source directory; it cannot be tagged")


def write_tar(sink: BinaryIO, root: Path, members: tuple[str, ...]) -> None:
    """A reproducible tar of ``members``: sorted, mtime 0, uid/gid 0, no user names, normalized modes."""
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(members, key=lambda m: m.encode("utf-8")):
            full = root / rel
            st = full.stat()
            info = tarfile.TarInfo(rel)
            info.size = st.st_size
            info.mode = normalize_mode(st.st_mode)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(full, "rb") as f:
                tar.addfile(info, f)


@contextlib.contextmanager
def _tar_stream(root: Path, planned: PlannedLayer) -> Iterator[BinaryIO]:
    """The layer's tar, generated by a thread into a pipe: no temp copy of the archive on disk or in memory."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as w:
                write_tar(w, root, planned.members)
        except BaseException as exc:  # re-raised in the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        with os.fdopen(read_fd, "rb") as r:
            yield r
    finally:
        thread.join()
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise UsageError(f"cannot archive {planned.path}: {failure[0]}") from failure[0]


def _with_tar(root: Path, planned: PlannedLayer, consume: Callable[[BinaryIO], Descriptor]) -> Descriptor:
    with _tar_stream(root, planned) as r:
        return consume(r)
