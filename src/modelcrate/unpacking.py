"""unpack: write a model's files into a directory, safely, from any Target.

Artifacts are untrusted. Every path is checked before anything is written (relative, no ``..``, no
backslash or NUL, no duplicates, no existing symlink on the way); tar layers may hold regular files only,
never sparse ones, and no more file bytes than the layer itself (modelcrate._internal.untrusted_tar);
every byte is verified against its layer digest. Files are first written under temporary names beside
their destination and renamed into place only after every layer has verified, so a refused artifact
leaves nothing behind at the target. Raw layers are fetched on several threads at once, each straight
into its temp file (a registry on more connections where one is slow); tar layers follow, one at a time.

A raw file's temp name comes from its digest (``.NAME.<hex>.partial``): when a download stops (the network
after the retries, Ctrl-C), what arrived stays in it and the next run into the same directory resumes
from there, hashing those bytes again. Files are written as ``cp`` and ``oras pull`` write them, without
waiting for the disk (fsync): this is a working copy that can be pulled again, unlike the store, whose
content-addressed blobs are durable before they are named.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import stat
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import BinaryIO

from .config import DEFAULT_CONCURRENCY
from .content.blobfile import fetch_into, partial_file, partial_name
from .content.target import Target
from ._internal.fsutil import FileSink, create_temp_at, open_dir_at
from ._internal.paths import safe_relpath
from ._internal.untrusted_tar import TAR_FORMATS, regular_files
from .content.verify import drain, read_all, verifying
from .errors import AlreadyExists, InvalidManifest, SizeMismatch, UnsafePath, UsageError
from . import foreign
from .format import untrusted_json
from .format.descriptor import Descriptor
from .format.mediatypes import ANN_FILE_METADATA, MAX_MANIFEST_BYTES, MAX_METADATA_BYTES
from .format.model import ModelFile, ModelView, normalize_mode

LAYER_READ_FORMATS = ("raw", *TAR_FORMATS)

@dataclass
class UnpackResult:
    """What was written: relative paths and sizes."""

    files: list[tuple[str, int]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # of ``files``: already in place, not rewritten

    @property
    def total_size(self) -> int:
        return sum(size for _p, size in self.files)


def fetch_model(target: Target, desc: Descriptor, *, metadata: bool = True) -> ModelView:
    """Read the model manifest ``desc`` names (verified against its digest): ours, legacy ModelPack, or a
    KitOps ModelKit (whose config, the Kitfile, is fetched to name its layers). Without ``metadata`` the
    view's metadata is None: what only writes files skips validating it and reading a ModelPack config."""
    with target.fetch(desc) as stream:
        raw = read_all(stream, desc, MAX_MANIFEST_BYTES)
    return foreign.read_any(raw, lambda config: _small_blob(target, config), metadata=metadata)


def _small_blob(target: Target, desc: Descriptor) -> bytes:
    with target.fetch(desc) as stream:
        return read_all(stream, desc, MAX_MANIFEST_BYTES)


NOTHING_SELECTED = "no file of the model matches the kinds and paths asked for"


def select(view: ModelView, kinds: tuple[str, ...] = (), include: tuple[str, ...] = ()) -> list[ModelFile]:
    """The files ``kinds`` and the ``include`` globs keep. A tar layer is kept whole when a glob matches its
    path, and kept for its matching members (see :func:`write_files`) when a glob may reach inside it.
    Selecting nothing is an error: an empty unpack is never what was meant."""
    out = []
    for f in view.files:
        if kinds and f.kind not in kinds:
            continue
        if include and not any(_may_match(f, g) for g in include):
            continue
        out.append(f)
    if not out and (kinds or include):
        shown = ", ".join(f"{f.path} ({f.kind})" for f in view.files[:20])
        raise UsageError(f"{NOTHING_SELECTED}; its files: {shown}")
    return out


# What a check of the written files sees: each file's relative path and an opener for its verified
# (not yet renamed) bytes.
Staged = list[tuple[str, Callable[[], BinaryIO]]]
Check = Callable[[Staged], None]


def _whole(f: ModelFile, include: tuple[str, ...]) -> bool:
    return not include or any(fnmatchcase(f.path, g) or fnmatchcase(f.path + "/", g) for g in include)


def _may_match(f: ModelFile, glob: str) -> bool:
    """Whether ``glob`` matches the layer, or (for a tar layer) may match a path inside it: the glob's
    literal prefix, up to its first wildcard, must agree with the layer's directory."""
    if fnmatchcase(f.path, glob) or fnmatchcase(f.path + "/", glob):
        return True
    if f.format == "raw":
        return False
    literal = re.split(r"[*?\[]", glob, maxsplit=1)[0]
    inside = f.path + "/"
    return inside.startswith(literal) or literal.startswith(inside)


def unpack(target: Target, reference: str, out_dir: str | os.PathLike[str], *,
           kinds: tuple[str, ...] = (), include: tuple[str, ...] = (), force: bool = False,
           concurrency: int = DEFAULT_CONCURRENCY, check: Check | None = None) -> UnpackResult:
    """Write the selected files of the model at ``reference`` into ``out_dir``."""
    view = fetch_model(target, target.resolve(reference), metadata=False)
    return write_files(target, select(view, kinds, include), Path(out_dir), force=force, concurrency=concurrency,
                       check=check, include=include)


def write_files(target: Target, files: list[ModelFile], out_dir: Path, *, force: bool = False,
                concurrency: int = DEFAULT_CONCURRENCY, check: Check | None = None,
                include: tuple[str, ...] = ()) -> UnpackResult:
    """Verify and place ``files`` under ``out_dir``; all or nothing.

    A file that exists with exactly the bytes it would get is left as it is (a re-run fetches nothing for
    it); one with other bytes is refused unless ``force``. Of a tar layer, only the members ``include``
    matches are written (all when the layer itself matches). ``check`` sees every verified file before any
    is renamed into place; raising refuses the artifact and leaves nothing behind (the unsafe-pickle gate
    uses it). Raw layers are fetched on up to ``concurrency`` threads (1: one after another), then tar
    layers one at a time. The first failure stops the rest and is raised as it is; the result lists files
    in manifest order whatever the concurrency."""
    raw_paths = []
    for f in files:
        if f.format != "raw" and not f.path:
            continue  # a foreign tar layer without a path annotation: its members are checked one by one
        path = safe_relpath(f.path)
        if f.format == "raw":
            _check_declared_size(f)
            raw_paths.append(path)
    _no_duplicates(raw_paths)
    stage = _Stage(out_dir, force)
    try:
        for f in files:
            if f.format not in LAYER_READ_FORMATS:
                raise InvalidManifest(f"layer {f.path!r} uses {f.format!r}; modelcrate unpacks "
                                      f"{', '.join(LAYER_READ_FORMATS)} layers")
        # One task per digest: paths that share a blob are fetched one after the other, so progress
        # reporting (keyed by digest) never sees one digest in flight twice.
        by_digest: dict[str, list[tuple[int, ModelFile]]] = {}
        for slot, f in enumerate(files):
            if f.format == "raw":
                # refuse early, before any byte is fetched; a file already in place is not fetched again
                if stage.check(safe_relpath(f.path), f.descriptor.digest):
                    stage.keep(safe_relpath(f.path), f.descriptor.size, slot=slot)
                    continue
                by_digest.setdefault(f.descriptor.digest, []).append((slot, f))

        def fetch_raw(group: list[tuple[int, ModelFile]]) -> None:
            for slot, f in group:
                stage.write_blob(safe_relpath(f.path), target, f.descriptor, normalize_mode(f.mode or 0o644),
                                 slot=slot)

        _run_all([lambda g=g: fetch_raw(g) for g in by_digest.values()], concurrency, stage.stop)
        for slot, f in enumerate(files):
            if f.format != "raw":
                members = () if _whole(f, include) else include
                with target.fetch(f.descriptor) as stream:
                    _extract_tar(verifying(stream, f.descriptor), stage, f, slot, members)
        if include and not stage.temps:
            raise UsageError(f"{NOTHING_SELECTED} (no member of its tar layers matched either)")
        stage.resumable = False  # from here on a failure is a refusal: nothing of the artifact stays
        if check is not None:
            check(stage.staged())
        return stage.commit()
    except BaseException as exc:
        # Partial downloads stay for the next run only when the network or the user stopped this one;
        # wrong content or a refusal leaves nothing of the artifact behind.
        stage.resumable = stage.resumable and (isinstance(exc, KeyboardInterrupt)
                                               or getattr(exc, "resumable", False))
        raise
    finally:
        stage.abort()


def _run_all(tasks: list[Callable[[], None]], concurrency: int, stop: Callable[[], None]) -> None:
    """Run ``tasks`` on up to ``concurrency`` threads (in order on this one for 1).

    On the first failure, or an interrupt while waiting, tasks not yet started are cancelled, ``stop`` is
    called so running ones give up at their next read, they are waited for, and the first error is raised
    as it is (an interrupt of this thread wins)."""
    if concurrency <= 1 or len(tasks) <= 1:
        for task in tasks:
            task()
        return
    first: list[BaseException] = []
    lock = threading.Lock()

    def run(task: Callable[[], None]) -> None:
        try:
            task()
        except BaseException as exc:
            with lock:
                first.append(exc)
            stop()
            raise

    pool = ThreadPoolExecutor(min(concurrency, len(tasks)), thread_name_prefix="modelcrate-unpack")
    try:
        wait([pool.submit(run, task) for task in tasks], return_when=FIRST_EXCEPTION)
    except BaseException:
        stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if first:
        raise first[0]


def _check_declared_size(f: ModelFile) -> None:
    text = f.descriptor.annotation(ANN_FILE_METADATA)
    if not text:
        return
    try:
        size = untrusted_json.loads(text, max_bytes=MAX_METADATA_BYTES, what="file metadata").get("size")
    except (ValueError, AttributeError):
        return
    if isinstance(size, int) and size != f.descriptor.size:
        raise SizeMismatch(f"{f.path!r}: file metadata says {size} bytes, the layer descriptor {f.descriptor.size}")


def _no_duplicates(paths: list[str]) -> None:
    claims = _Claims()
    for p in paths:
        claims.add(p)


class _Claims:
    """Paths an artifact writes: refuses a path named twice, or as both a file and a directory."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.dirs: set[str] = set()

    def add(self, rel: str) -> None:
        if rel in self.files:
            raise UnsafePath(f"artifact names {rel!r} twice")
        parents = ["/".join(rel.split("/")[:i]) for i in range(1, rel.count("/") + 1)]
        clash = rel if rel in self.dirs else next((p for p in parents if p in self.files), None)
        if clash is not None:
            raise UnsafePath(f"artifact names {clash!r} both as a file and as a directory")
        self.files.add(rel)
        self.dirs.update(parents)


def _extract_tar(reader: BinaryIO, stage: "_Stage", layer: ModelFile, slot: int,
                 members: tuple[str, ...] = ()) -> None:
    """Write the tar layer's regular files (only those ``members`` globs match, when given). Every member,
    written or not, counts against the tar limits of :func:`regular_files`."""
    layer_path = safe_relpath(layer.path) if layer.path else ""
    for name, member, src in regular_files(reader, layer_path, layer.descriptor.size, layer.format):
        if members and not any(fnmatchcase(name, g) for g in members):
            continue
        stage.check(name)
        stage.write(name, src, normalize_mode(member.mode), size=member.size, slot=slot)
    drain(reader)  # the end-of-archive padding is part of the digest: read it so the check runs


class _Stopped(Exception):
    """A worker gave up because another one failed (never what write_files raises)."""


@dataclass
class _Temp:
    rel: str
    dir_fd: int  # the directory it sits in, opened without following links
    name: str | None  # its temporary name there; None: the destination already holds these bytes
    size: int = 0
    resumable: bool = False  # a partial download, kept when the run stops before it is complete


def _open_temp(temp: _Temp) -> BinaryIO:
    # A kept file (same bytes already in place) is checked where it is: a re-run gates it like the first.
    name = temp.name if temp.name is not None else temp.rel.rpartition("/")[2]
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=temp.dir_fd)
    return os.fdopen(fd, "rb")


def _digest_at(dir_fd: int, name: str) -> str:
    """The sha256 digest of the regular file ``name`` in ``dir_fd``, opened without following a link."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        return f"sha256:{hashlib.file_digest(f, 'sha256').hexdigest()}"


def _exists_at(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


class _Stage:
    """Temp files beside their destinations, renamed into place together by :meth:`commit`.

    Every path below the output directory is resolved one component at a time against directory file
    descriptors opened with O_NOFOLLOW (openat-style), never by re-resolving a path string: someone who
    can write in the output directory and swaps a subdirectory for a symlink meanwhile makes the unpack
    fail or write into the directory it first opened, never outside. The output directory itself is the
    user's choice and is opened by its path once.

    Thread-safe: claims, directories and temp files are made and recorded under one lock, each temp file
    as soon as it exists, so :meth:`abort` removes it whatever its writer did next. After :meth:`stop` (a
    failure elsewhere) or :meth:`abort`, writers give up at their next read and no new file is made."""

    def __init__(self, out_dir: Path, force: bool) -> None:
        self.out = out_dir
        self.force = force
        self.temps: dict[int, list[_Temp]] = {}  # slot (manifest position) -> its files, in write order
        self.claims = _Claims()
        self.made_roots: list[Path] = []  # the output directory and missing parents, made by path
        self.made_dirs: list[tuple[int, str]] = []  # (parent fd, name) of directories made below it
        self.dirs: dict[str, int] = {}  # relative directory ("" is the output directory) -> open fd
        self.done = False
        self.resumable = True  # while downloading: abort keeps partial downloads for the next run
        self._lock = threading.RLock()
        self._stopped = threading.Event()

    def check(self, rel: str, digest: str | None = None) -> bool:
        """Refuse a path that walks through a symlink or collides. An existing file is fine with ``force``;
        without it, True when it holds exactly the bytes of ``digest`` (nothing to write), else refused.
        Without a digest (a tar member) an existing file is compared when its bytes are written."""
        with self._lock:
            parent, _, name = rel.rpartition("/")
            dir_fd = self._dir(parent, rel, create=False)
            if dir_fd is None:
                return False
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if stat.S_ISDIR(st.st_mode):
                raise UnsafePath(f"{rel!r} would replace the directory {self.out / rel}")
            if self.force:
                return False
            if not stat.S_ISREG(st.st_mode):
                raise AlreadyExists(f"{self.out / rel} exists (not a regular file)", hint="use --force to overwrite")
            if digest is None:
                return False
            if _digest_at(dir_fd, name) == digest:
                return True
            raise AlreadyExists(f"{self.out / rel} exists with other content", hint="use --force to overwrite")

    def keep(self, rel: str, size: int, *, slot: int) -> None:
        """Record ``rel`` as in place already: listed in the result, never renamed over."""
        with self._lock:
            self.claims.add(rel)
            dir_fd = self._dir(rel.rpartition("/")[0], rel, create=False)
            assert dir_fd is not None  # check() found the file there
            self.temps.setdefault(slot, []).append(_Temp(rel, dir_fd, None, size))

    def _dir(self, rel_dir: str, rel: str, *, create: bool) -> int | None:  # lock held
        """The fd of ``out/rel_dir``, opened component by component; None if missing and not ``create``."""
        if rel_dir in self.dirs:
            return self.dirs[rel_dir]
        if not rel_dir:
            return self._root(create)
        up, _, name = rel_dir.rpartition("/")
        parent = self._dir(up, rel, create=create)
        if parent is None:
            return None
        try:
            fd = open_dir_at(parent, name)
        except FileNotFoundError:
            if not create:
                return None
            with contextlib.suppress(FileExistsError):  # made meanwhile by someone else: open what is there
                os.mkdir(name, dir_fd=parent)
                self.made_dirs.append((parent, name))
            fd = self._open_below(parent, name, rel_dir, rel)
        except OSError:
            fd = self._open_below(parent, name, rel_dir, rel)
        self.dirs[rel_dir] = fd
        return fd

    def _open_below(self, parent: int, name: str, rel_dir: str, rel: str) -> int:
        try:
            return open_dir_at(parent, name)
        except OSError:
            pass
        try:
            is_link = stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        node = self.out / rel_dir
        if is_link:
            raise UnsafePath(f"{rel!r} would be written through the symlink {node}")
        raise UnsafePath(f"{rel!r} needs {node} to be a directory, but it is a file")

    def _root(self, create: bool) -> int | None:  # lock held
        if not self.out.is_dir():
            if not create:
                return None
            missing = [p for p in (self.out, *self.out.parents) if not p.exists()]
            for d in reversed(missing):
                d.mkdir()
                self.made_roots.append(d)
        fd = os.open(self.out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.dirs[""] = fd
        return fd

    def stop(self) -> None:
        self._stopped.set()

    def _go_on(self, _nbytes: int) -> None:
        if self._stopped.is_set():
            raise _Stopped

    def write(self, rel: str, src: BinaryIO, mode: int, size: int | None = None, *, slot: int) -> None:
        """Write ``src`` to a temp file for ``rel``; ``slot`` (the layer's manifest position) orders the result."""
        parent, _, name = rel.rpartition("/")
        with self._lock:
            self._go_on(0)
            self.claims.add(rel)
            self.check(rel)
            dir_fd = self._dir(parent, rel, create=True)
            assert dir_fd is not None
            fd, tmp = create_temp_at(dir_fd, f".{name[:64]}.", ".partial")
            temp = _Temp(rel, dir_fd, tmp)
            self.temps.setdefault(slot, []).append(temp)
        with os.fdopen(fd, "wb", buffering=0) as f:
            written = drain(src, FileSink(f.fileno(), writeback=False), on_bytes=self._go_on)
            os.fchmod(f.fileno(), mode)
        if size is not None and written != size:
            raise SizeMismatch(f"{rel!r}: tar member is {written} bytes, header says {size}")
        temp.size = written
        if not self.force and _exists_at(dir_fd, name):  # a tar member over an existing file: same bytes or refused
            if _digest_at(dir_fd, name) != _digest_at(dir_fd, tmp):
                raise AlreadyExists(f"{self.out / rel} exists with other content", hint="use --force to overwrite")
            with self._lock:
                os.unlink(tmp, dir_fd=dir_fd)
                temp.name = None

    def write_blob(self, rel: str, source: Target, desc: Descriptor, mode: int, *, slot: int) -> None:
        """Fetch blob ``desc`` from ``source`` into the partial download for ``rel`` (resuming what an
        earlier run left in it), verified; ``slot`` orders the result."""
        parent, _, name = rel.rpartition("/")
        partial = partial_name(desc, f".{name[:64]}.") + ".partial"
        with self._lock:
            self._go_on(0)
            self.claims.add(rel)
            self.claims.add(f"{parent}/{partial}" if parent else partial)  # no model file may be named so
            self.check(rel)
            dir_fd = self._dir(parent, rel, create=True)
            assert dir_fd is not None
        with partial_file(dir_fd, partial) as (fd, tmp, have):
            temp = _Temp(rel, dir_fd, tmp, desc.size, resumable=True)
            with self._lock:
                self.temps.setdefault(slot, []).append(temp)
            fetch_into(source, desc, fd, have=have, on_bytes=self._go_on)
            os.fchmod(fd, mode)

    def staged(self) -> Staged:
        """Every file so far (temp or kept), in manifest order, with an opener that reads it by its directory fd."""
        return [(t.rel, functools.partial(_open_temp, t)) for slot in sorted(self.temps) for t in self.temps[slot]]

    def commit(self) -> UnpackResult:
        result = UnpackResult()
        for slot in sorted(self.temps):
            for temp in self.temps[slot]:
                if temp.name is None:
                    result.unchanged.append(temp.rel)
                    result.files.append((temp.rel, temp.size))
                    continue
                name = temp.rel.rpartition("/")[2]
                try:
                    os.replace(temp.name, name, src_dir_fd=temp.dir_fd, dst_dir_fd=temp.dir_fd)
                except IsADirectoryError:
                    raise UnsafePath(f"{temp.rel!r} would replace the directory {self.out / temp.rel}") from None
                result.files.append((temp.rel, temp.size))
        self.done = True
        self._close()
        return result

    def abort(self) -> None:
        with self._lock:  # no writer makes a file or directory after this
            self._stopped.set()
            if not self.done:
                for temps in self.temps.values():
                    for temp in temps:
                        if temp.name is None or (temp.resumable and self.resumable):
                            continue  # in place already, or a partial download the next run resumes
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(temp.name, dir_fd=temp.dir_fd)
                for parent, name in reversed(self.made_dirs):
                    with contextlib.suppress(OSError):
                        os.rmdir(name, dir_fd=parent)
                for d in reversed(self.made_roots):
                    with contextlib.suppress(OSError):
                        d.rmdir()
            self._close()

    def _close(self) -> None:
        for fd in self.dirs.values():
            os.close(fd)
        self.dirs.clear()
