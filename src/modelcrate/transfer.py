"""Moving models between the local store, a directory and registries: push, pull, copy, tags, login.

Every transfer is the one graph copy of :mod:`modelcrate.graphcopy` between two Targets, so each byte is
verified by the side that receives it, blobs the destination has are skipped, blobs move in parallel, and
the manifest and then the tag land only after every blob. Functions take plain values and return plain
values; they never print (progress goes to the :class:`~modelcrate.graphcopy.Progress` passed in).

Each takes a :class:`~modelcrate.config.Config` (the local store, registry settings, default concurrency
and rounds, the cancellation token); ``remote`` overrides its registry settings for one call. Operations
that never touch the local store (``pull_to_dir``, ``list_tags``, ``catalog``, ``login``) work without one.

An interrupted copy is run again automatically (``rounds``, default 3) when the cause was the network: each
run skips what already arrived, downloads continue from the byte they reached (``Range``), and uploads
continue from the offset the registry reports. Registry 2.8.2 cannot say how much of an upload arrived once
a request was cut mid-body, so for that registry a large blob that was cut is sent again from its start,
while finished blobs are not.

>>> from modelcrate import transfer
>>> config = Config.from_env()                                               # doctest: +SKIP
>>> transfer.push("localhost:5000/team/bert:1.0", config=config).digest      # doctest: +SKIP
'sha256:…'
>>> transfer.pull_to_dir("localhost:5000/team/bert:1.0", "./bert", config=config)   # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from . import unpacking as _unpack
from .content.blobfile import fetch_into
from .config import DEFAULT_CONCURRENCY, DEFAULT_ROUNDS, Config
from .content.remote.credentials import Credentials
from .content.remote.http import TransportError, cancelled
from .content.remote.registry import RegistryTarget, RemoteSettings
from .content.tagupdate import current
from .content.target import Target
from .graphcopy import CopyOptions, CopyResult, Progress, blob_slots, copy
from .errors import InvalidManifest, InvalidReference, ModelcrateError, UsageError, caused_by
from .content.verify import read_all
from .format.descriptor import Descriptor
from .format.mediatypes import MAX_MANIFEST_BYTES
from .format.model import read_model
from .format.reference import Reference, is_reserved_tag
from .filedigests import FileDigests
from .lifecycle.versions import Overwrite, guard_version_tag, place_tag, version_tag
from .onepass import OnePass
from .results import LoginResult, TransferResult
from .targets import Targets, resolve

if TYPE_CHECKING:
    from . import packing as _pack, signatures as _signatures
    from .content.remote.upload import Uploader

T = TypeVar("T")


# ---- helpers ----------------------------------------------------------------------------------------
def _registry(config: Config | None, remote: RemoteSettings | None) -> RemoteSettings:
    """``remote`` overrides the configuration's registry settings for one call (the store's state
    directory still applies unless ``remote`` names another)."""
    if config is None:
        return remote if remote is not None else RemoteSettings()
    if remote is not None and remote.state_dir is None:
        return replace(remote, state_dir=config.state_dir)
    return remote if remote is not None else config.registry()


def _downloading(config: Config | None, remote: RemoteSettings | None, run: _Run) -> RemoteSettings:
    """The registry settings for a pull: ``--concurrency`` also bounds the connections one big blob may
    use (``--concurrency 1`` is one connection, as the user asked)."""
    rs = _registry(config, remote)
    return replace(rs, download_streams=max(1, min(rs.download_streams, run.concurrency)))


def parse_remote(ref: str, *, default_tag: bool = True) -> Reference:
    """Parse a reference that must name a registry; the tag defaults to ``latest`` without a digest."""
    r = Reference.parse(ref)
    if r.registry is None:
        raise InvalidReference(f"{ref} names no registry", hint=f"write it as HOST[:PORT]/{r.repository}"
                               + (f":{r.tag}" if r.tag else ""))
    return r.or_latest() if default_tag else r


class _Tally(Progress):
    """Forwards events to the caller's progress and records distinct nodes across rounds."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.copied_nodes: dict[str, int] = {}
        self.skipped_nodes: dict[str, int] = {}
        self.mounted_nodes: dict[str, int] = {}
        self._streamed: set[str] = set()  # uploaded while staged (push DIR): shown once, as its stand-in
        self._lock = threading.Lock()

    def start(self, desc: Descriptor) -> None:
        self.inner.start(desc)

    def advance(self, desc: Descriptor, nbytes: int) -> None:
        self.inner.advance(desc, nbytes)

    def done(self, desc: Descriptor) -> None:
        with self._lock:
            self.copied_nodes[desc.digest] = desc.size
        self.inner.done(desc)

    def skipped(self, desc: Descriptor) -> None:
        with self._lock:
            self.skipped_nodes[desc.digest] = desc.size
            shown = desc.digest in self._streamed
        if not shown:
            self.inner.skipped(desc)

    def streamed(self, stand_in: Descriptor, desc: Descriptor) -> None:
        """``stand_in`` (named for a file whose digest was not known yet) turned out to be ``desc``, now
        uploaded (see :mod:`modelcrate.onepass`)."""
        with self._lock:
            self.copied_nodes[desc.digest] = desc.size
            self._streamed.add(desc.digest)
        self.inner.done(stand_in)

    def staged(self, desc: Descriptor) -> None:
        """A file of push DIR is described ("ready"), unless it was shown already as it went up."""
        with self._lock:
            shown = desc.digest in self._streamed
        if not shown:
            self.inner.done(desc)

    def mounted(self, desc: Descriptor) -> None:
        with self._lock:
            self.mounted_nodes[desc.digest] = desc.size
        self.inner.mounted(desc)


class _Staging(Progress):
    """The progress of staging a directory: its files are described, not copied."""

    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def done(self, desc: Descriptor) -> None:
        self.tally.staged(desc)


def _rounds(run: Callable[[], T], rounds: int, config: Config | None) -> tuple[T, int]:
    """Run ``run``; run it again (up to ``rounds`` times) when it failed because of the network."""
    for attempt in range(1, rounds + 1):
        try:
            return run(), attempt
        except ModelcrateError as exc:
            stop = config.cancel.cancelled if config is not None else cancelled()
            if attempt == rounds or stop or not caused_by(exc, TransportError):
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class _Run:
    """How one transfer runs: parallelism, progress and how many rounds, resolved from the config."""

    config: Config | None
    concurrency: int
    progress: Progress
    rounds: int

    @classmethod
    def of(cls, config: Config | None, concurrency: int | None, progress: Progress | None,
           rounds: int | None) -> _Run:
        return cls(config, max(1, concurrency or (config.concurrency if config else DEFAULT_CONCURRENCY)),
                   progress or Progress(), rounds or (config.rounds if config else DEFAULT_ROUNDS))


def _copy(src: Target, root: Descriptor, dst: Target, tag: str | None, run: _Run, *,
          mount_from: str | None = None, referrers: bool = True, guard: str | None = None,
          force: Overwrite | None = None, tally: _Tally | None = None) -> tuple[CopyResult, _Tally, int]:
    """``guard``: the destination name, when ``tag`` is a write the version-tag rule applies to."""
    tally = tally or _Tally(run.progress)
    options = CopyOptions(concurrency=run.concurrency, progress=tally, mount_from=mount_from, referrers=referrers)
    old = guard_version_tag(src, dst, tag, root, force) if guard else None
    result, used = _rounds(lambda: copy(src, root, dst, None if old else tag, options), run.rounds, run.config)
    if old and tag and guard:  # a forced overwrite (guard_version_tag allowed it): recorded, then the tag moves
        place_tag(dst, root, guard, tag, old, force)
    return result, tally, used


def _model_files(source: Target, root: Descriptor) -> tuple[tuple[str, int], ...]:
    """(path, size) of the model's files, from its manifest (``()`` for an artifact that is not a model)."""
    try:
        with source.fetch(root) as stream:  # a registry's manifest is cached by now: no request
            view = read_model(read_all(stream, root, MAX_MANIFEST_BYTES))
    except InvalidManifest:
        return ()
    return tuple((f.path, f.descriptor.size) for f in view.files)


def _result(reference: str, root: Descriptor, result: CopyResult, tally: _Tally, rounds: int,
            targets: Targets, source: Target) -> TransferResult:
    copied, mounted = tally.copied_nodes, tally.mounted_nodes
    # a node copied in an earlier round shows up as skipped in a later one: it counts as copied
    skipped = {d: n for d, n in tally.skipped_nodes.items() if d not in copied and d not in mounted}
    total = sum({**skipped, **copied, **mounted}.values())
    sent, received = targets.bytes_moved()
    return TransferResult(
        reference=reference, digest=root.digest, media_type=root.media_type, size=total,
        copied=len(copied), skipped=len(skipped), mounted=len(mounted),
        bytes_copied=sum(copied.values()), bytes_skipped=sum(skipped.values()),
        bytes_sent=sent, bytes_received=received, referrers=result.referrers, rounds=rounds,
        files=_model_files(source, root))


# ---- operations ---------------------------------------------------------------------------------------
def push(ref: str, *, config: Config, remote: RemoteSettings | None = None, concurrency: int | None = None,
         progress: Progress | None = None, rounds: int | None = None, force: Overwrite | None = None
         ) -> TransferResult:
    """Push the local-store model named ``ref`` (``HOST/NAME[:TAG][@DIGEST]``) to that registry.

    The local entry has the same name (``modelcrate pack DIR -t HOST/NAME:TAG`` or ``modelcrate tag``).
    With a digest only, the manifest is pushed untagged. ``remote`` overrides ``config``'s registry
    settings; ``concurrency`` and ``rounds`` its defaults. A version tag naming another digest is refused
    unless ``force`` (see :mod:`modelcrate.lifecycle.versions`)."""
    r = parse_remote(ref)
    run = _Run.of(config, concurrency, progress, rounds)
    with Targets(config, remote=_registry(config, remote)) as targets:
        src = targets.open(r, write=False, local=True)
        root = resolve(src, r)
        dst = targets.open(r, write=True)
        result, tally, used = _copy(src, root, dst, r.tag, run, guard=r.name, force=force)
        return _result(str(r), root, result, tally, used, targets, src)


def push_dir(directory: str | os.PathLike[str], ref: str, *, config: Config, modelfile: str | None = None,
             remote: RemoteSettings | None = None, concurrency: int | None = None,
             progress: Progress | None = None, rounds: int | None = None,
             follow_external_symlinks: bool = False, force: Overwrite | None = None) -> TransferResult:
    """Pack ``directory`` on the fly and push it to ``ref``: each file streams from the directory (tar
    layers are generated again as they are sent); nothing is copied into the local store. The digest is
    the one ``modelcrate pack`` would give. A big file is read once, uploaded as it is hashed, before
    the manifest that names it (see :mod:`modelcrate.onepass`)."""
    from . import packing as _pack

    _check_push_order(directory, ref)
    r = parse_remote(ref)
    if r.digest:
        raise UsageError("push DIR takes a name and tag, not a digest: the digest is the result")
    run = _Run.of(config, concurrency, progress, rounds)
    plan = _pack.plan(directory, modelfile, source_date_epoch=config.source_date_epoch,
                      follow_external_symlinks=follow_external_symlinks)
    with Targets(config, remote=_registry(config, remote)) as targets:
        dst = targets.open(r, write=True)
        tally = _Tally(run.progress)
        big = OnePass(_one_pass_uploads(dst, r.tag, plan), FileDigests(config.state_dir), tally,
                      lambda stream, desc: _Reporting(stream, desc, tally))  # type: ignore[arg-type, return-value]
        (source, root), staged = _rounds(lambda: _pack.stage(plan, concurrency=run.concurrency,
                                                             progress=_Staging(tally), big=big), run.rounds, config)
        # A directory has no signatures or attestations to carry along.
        result, tally, used = _copy(source, root, dst, r.tag, run, referrers=False, guard=r.name, force=force,
                                    tally=tally)
        return _result(str(r), root, result, tally, staged - 1 + used, targets, source)


def _one_pass_uploads(dst: Target, tag: str | None, plan: "_pack.PackPlan") -> Uploader | None:
    """Where big files may go up before the manifest is known: a registry repository, unless the push
    writes a version tag that exists already, which must be checked against the digest before any
    byte is sent (see :mod:`modelcrate.lifecycle.versions`)."""
    if not isinstance(dst, RegistryTarget):
        return None
    if tag and tag == version_tag(plan.metadata) and current(dst, tag) is not None:
        return None
    return dst.uploads


def _check_push_order(directory: str | os.PathLike[str], ref: str) -> None:
    """``push REF DIR`` (oras and docker habits differ): say so instead of "not a directory"."""
    if not Path(directory).is_dir() and Path(ref).is_dir():
        raise UsageError(f"the arguments are reversed: the directory comes first (push {ref} {os.fspath(directory)})")


Verification = "_signatures.Policy | _signatures.Verifier"


def pull(ref: str, *, config: Config, remote: RemoteSettings | None = None, concurrency: int | None = None,
         progress: Progress | None = None, rounds: int | None = None, verify: Verification | None = None,
         check: Callable[[Target, Descriptor, str], None] | None = None, force: Overwrite | None = None
         ) -> TransferResult:
    """Pull ``HOST/NAME[:TAG][@DIGEST]`` into the local store under the same name.

    With a digest the digest wins and every byte is checked against it; with ``TAG@DIGEST`` the tag must
    not name another manifest. Pulled by digest alone, the manifest is kept untagged (safe from GC).
    With ``verify`` (a key verifier or a policy) the model is refused before any blob is fetched unless
    the registry holds signatures that satisfy it. ``check`` sees the copied model (store, manifest,
    name) before it is tagged; raising refuses it, and its untagged blobs go with the next GC. A local
    version tag naming another digest is refused, before a blob moves, unless ``force``."""
    r = parse_remote(ref)
    run = _Run.of(config, concurrency, progress, rounds)
    with Targets(config, remote=_downloading(config, remote, run)) as targets:
        src, root = _pull_source(targets, r, verify)
        dst = targets.open(r, write=True, local=True)
        old = guard_version_tag(src, dst, r.tag, root, force, key_flag="--overwrite-key")
        result, tally, used = _copy(src, root, dst, None, run)
        if check is not None:
            check(dst, root, r.name)
        if r.tag:
            place_tag(dst, root, r.name, r.tag, old, force)
        else:
            dst.keep(root)  # type: ignore[attr-defined]
        return _result(str(r), root, result, tally, used, targets, dst)


def _pull_source(targets: Targets, r: Reference, verify: Verification | None) -> tuple[Target, Descriptor]:
    """The repository and root manifest to pull; with ``verify``, its signatures are checked against the
    registry's referrers before a byte of the model is fetched."""
    src = targets.open(r, write=False)
    root = resolve(src, r, fetching=True)  # a tag: one GET, whose manifest the copy or unpack reads next
    if verify is not None:
        from . import signatures as _signatures  # only a verifying pull needs the signing stack

        _signatures.verify_before_pull(src, root, r.name, verify)
    return src, root


def pull_to_dir(ref: str, out_dir: str | os.PathLike[str], *, force: bool = False,
                kinds: tuple[str, ...] = (), include: tuple[str, ...] = (), config: Config | None = None,
                remote: RemoteSettings | None = None, concurrency: int | None = None,
                progress: Progress | None = None, rounds: int | None = None, verify: Verification | None = None,
                model_signature: str | os.PathLike[str] | None = None,
                check: _unpack.Check | None = None) -> TransferResult:
    """Write the model's files straight into ``out_dir`` (nothing goes into the local store), with the
    safety rules of :func:`modelcrate.unpacking.write_files`: every path checked, links refused, every byte
    verified, and nothing of a refused artifact left behind. ``verify`` refuses an unsigned model before
    any file is written; ``model_signature`` also writes its OpenSSF model-signing bundle to that file.
    Raw layers are fetched ``concurrency`` at a time (default: the config's); the local store is not used,
    so ``config`` may be left out."""
    r = parse_remote(ref)
    run = _Run.of(config, concurrency, progress, rounds)
    with Targets(config, remote=_downloading(config, remote, run)) as targets:
        src, root = _pull_source(targets, r, verify)
        # The OMS bundle is found (and refused if missing) before any file is written.
        signature = None
        if model_signature is not None:
            from . import signatures as _signatures

            signature = _signatures.prepare_model_signature(src, root, model_signature, kinds=kinds,
                                                            include=include, verify=verify, force=force)
        view = _unpack.fetch_model(src, root, metadata=False)
        files = _unpack.select(view, kinds, include)
        watched = Watched(src, run.progress)
        slots = blob_slots(run.concurrency, [f.descriptor.size for f in files])
        written, used = _rounds(lambda: _unpack.write_files(watched, files, Path(out_dir), force=force,
                                                            concurrency=slots, check=check, include=include),
                                run.rounds, config)
        if signature is not None and model_signature is not None:  # beside the files
            from . import signatures as _signatures

            _signatures.save_model_signature(signature, model_signature, force=force)
        size = sum(f.descriptor.size for f in files)
        kept = set(written.unchanged)
        kept_bytes = sum(n for path, n in written.files if path in kept)
        sent, received = targets.bytes_moved()
        return TransferResult(reference=str(r), digest=root.digest, media_type=root.media_type, size=size,
                              copied=len(written.files) - len(kept), skipped=len(kept),
                              bytes_copied=sum(n for _p, n in written.files) - kept_bytes, bytes_skipped=kept_bytes,
                              bytes_sent=sent, bytes_received=received, rounds=used, files=tuple(written.files))


def copy_ref(src_ref: str, dst_ref: str, *, config: Config, remote: RemoteSettings | None = None,
             concurrency: int | None = None, progress: Progress | None = None, rounds: int | None = None,
             force: Overwrite | None = None) -> TransferResult:
    """Copy between registries or repositories (either side may be a local-store name). On one registry,
    blobs are mounted across repositories instead of moved. Without a tag on ``dst_ref`` the source's tag
    is used; signatures and attestations come along."""
    sr = Reference.parse(src_ref).or_latest()
    dr = Reference.parse(dst_ref)
    if dr.digest:
        raise UsageError(f"{dst_ref}: the destination takes a name and tag, not a digest")
    tag = dr.tag or sr.tag
    run = _Run.of(config, concurrency, progress, rounds)
    with Targets(config, remote=_registry(config, remote)) as targets:
        src = targets.open(sr, write=False)
        root = resolve(src, sr)
        dst = targets.open(dr, write=True)
        mount_from = (sr.repository if sr.registry is not None and sr.registry == dr.registry
                      and sr.repository != dr.repository else None)
        result, tally, used = _copy(src, root, dst, tag, run, mount_from=mount_from, guard=dr.name, force=force)
        if not tag and dr.registry is None:
            dst.keep(root)  # type: ignore[attr-defined]
        shown = f"{dr.name}:{tag}" if tag else f"{dr.name}@{root.digest}"
        return _result(shown, root, result, tally, used, targets, src)


def list_tags(repo: str, *, config: Config | None = None, remote: RemoteSettings | None = None,
              show_referrers: bool = False) -> list[str]:
    """Tags of ``HOST/NAME`` on its registry, sorted. The reserved tags (``sha256-<hex>`` signatures and
    referrers index, ``_history.<stage>`` history heads) are left out unless ``show_referrers``."""
    r = parse_remote(repo, default_tag=False)
    if r.tag or r.digest:
        raise UsageError(f"{repo}: name a repository, without a tag or digest")
    with Targets(config, remote=_registry(config, remote)) as targets:
        found = targets.client(r.registry or "").repository(r.repository).tags()
    return found if show_referrers else [t for t in found if not is_reserved_tag(t)]


def catalog(registry: str, *, config: Config | None = None, remote: RemoteSettings | None = None) -> list[str]:
    """Repositories of ``HOST[:PORT]`` (``GET /v2/_catalog``), sorted."""
    with Targets(config, remote=_registry(config, remote)) as targets:
        return targets.client(_registry_host(registry)).catalog()


def iter_catalog(registry: str, *, config: Config | None = None, remote: RemoteSettings | None = None
                 ) -> Iterator[str]:
    """Repositories of ``HOST[:PORT]`` as the registry lists them, page by page (for printing as they come)."""
    from .content.remote.listing import iter_repository_names

    host = _registry_host(registry)
    with Targets(config, remote=_registry(config, remote)) as targets:
        yield from iter_repository_names(targets.client(host))


def _registry_host(registry: str) -> str:
    text = registry.strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    text = text.rstrip("/")
    if not text or "/" in text or "@" in text:
        raise InvalidReference(f"{registry!r} is not a registry host; write HOST[:PORT]")
    Reference.parse(f"{text}/x")  # validates the host and port
    return text.lower()


def login(registry: str, username: str, password: str, *, config: Config | None = None,
          remote: RemoteSettings | None = None) -> LoginResult:
    """Check ``username``/``password`` with an authenticated ``GET /v2/`` and only then store them in the
    docker config (or its credential helper). Wrong credentials raise AuthError and store nothing."""
    rs = _registry(config, remote)
    host = _registry_host(registry)
    if not username or not password:
        raise UsageError("login needs a username and a password")
    creds = Credentials(username, password)
    with Targets(config, remote=replace(rs, credentials=creds)) as targets:
        client = targets.client(host)
        client.ping()
        verified = client.auth.scheme is not None
    where = rs.docker().store(host, creds)
    return LoginResult(host, username, where, verified)


def logout(registry: str, *, config: Config | None = None, remote: RemoteSettings | None = None) -> bool:
    """Forget the stored credentials for ``registry``; False if there were none."""
    return _registry(config, remote).docker().erase(_registry_host(registry))


class Watched:
    """A Target wrapper that reports fetched bytes to a Progress (the verifying stream passes through)."""

    def __init__(self, inner: Target, progress: Progress) -> None:
        self.inner, self.progress, self.name = inner, progress, inner.name

    def exists(self, desc: Descriptor) -> bool:
        return self.inner.exists(desc)

    @contextmanager
    def fetch(self, desc: Descriptor) -> Iterator[BinaryIO]:
        self.progress.start(desc)
        with self.inner.fetch(desc) as stream:
            yield _Reporting(stream, desc, self.progress)  # type: ignore[misc]
        self.progress.done(desc)

    def push(self, desc: Descriptor, stream: BinaryIO) -> None:
        self.inner.push(desc, stream)

    def fetch_into(self, desc: Descriptor, fd: int, *, have: int = 0,
                   on_bytes: Callable[[int], None] | None = None) -> None:
        self.progress.start(desc)

        def advance(n: int) -> None:
            self.progress.advance(desc, n)
            if on_bytes is not None:
                on_bytes(n)
        fetch_into(self.inner, desc, fd, have=have, on_bytes=advance)
        self.progress.done(desc)

    def resolve(self, reference: str) -> Descriptor:
        return self.inner.resolve(reference)

    def tag(self, desc: Descriptor, tag: str) -> None:
        self.inner.tag(desc, tag)


class _Reporting(io.RawIOBase):
    def __init__(self, stream: BinaryIO, desc: Descriptor, progress: Progress) -> None:
        super().__init__()
        self._stream, self._desc, self._progress = stream, desc, progress
        self.verifies = getattr(stream, "verifies", None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        n = self._stream.readinto(buffer) or 0  # type: ignore[attr-defined]
        if n:
            self._progress.advance(self._desc, n)
        return n


__all__ = ["LoginResult", "TransferResult", "Watched", "catalog", "copy_ref", "list_tags", "login", "logout", "parse_remote",
           "pull", "pull_to_dir", "push", "push_dir"]
