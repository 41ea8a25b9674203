"""Moving models between the local store, a directory and registries: push, pull, copy, tags, login.

Every transfer is the one graph copy of :mod:`modelcrate.copy` between two Targets, so each byte is
verified by the side that receives it, blobs the destination has are skipped, blobs move in parallel, and
the manifest and then the tag land only after every blob. Functions take plain values and return plain
values; they never print (progress goes to the :class:`~modelcrate.copy.Progress` passed in).

An interrupted copy is run again automatically (``rounds``, default 3) when the cause was the network: each
run skips what already arrived, downloads continue from the byte they reached (``Range``), and uploads
continue from the offset the registry reports. Registry 2.8.2 cannot say how much of an upload arrived once
a request was cut mid-body, so for that registry a large blob that was cut is sent again from its start,
while finished blobs are not.

>>> from modelcrate import transfer
>>> transfer.push("localhost:5000/team/bert:1.0").digest                    # doctest: +SKIP
'sha256:…'
>>> transfer.pull_to_dir("localhost:5000/team/bert:1.0", "./bert")          # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, TypeVar

from . import pack as _pack, signatures as _signatures, unpack as _unpack
from .content.layout import LocalRepository, LocalStore
from .content.remote.credentials import Credentials
from .content.remote.http import TransportError, cancelled
from .content.remote.registry import RegistryClient, RegistryTarget, RemoteSettings
from .content.target import Target
from .copy import CopyOptions, CopyResult, Progress, copy
from .errors import DigestMismatch, InvalidReference, ModelcrateError, NotFound, UsageError
from .format.descriptor import Descriptor
from .format.reference import Reference, is_referrers_tag
from .settings import Settings

DEFAULT_ROUNDS = 3

T = TypeVar("T")


@dataclass(frozen=True)
class TransferResult:
    """What a push, pull or copy did.

    ``blobs_*`` and ``bytes_copied``/``bytes_skipped`` count distinct nodes of the graph (manifests and
    config included); ``bytes_sent``/``bytes_received`` are body bytes that crossed the network, so a
    re-sent part counts twice. ``rounds`` is how many copy runs it took (more than 1 after a resume)."""

    reference: str
    digest: str
    media_type: str
    size: int
    copied: int = 0
    skipped: int = 0
    mounted: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    referrers: int = 0
    rounds: int = 1
    files: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "reference": self.reference, "digest": self.digest, "mediaType": self.media_type, "size": self.size,
            "copied": self.copied, "skipped": self.skipped, "mounted": self.mounted,
            "bytesCopied": self.bytes_copied, "bytesSkipped": self.bytes_skipped, "bytesSent": self.bytes_sent,
            "bytesReceived": self.bytes_received, "referrers": self.referrers, "rounds": self.rounds}
        if self.files:
            out["files"] = [{"path": p, "size": s} for p, s in self.files]
        return out


@dataclass(frozen=True)
class LoginResult:
    """``verified`` is False when the registry never asked for credentials (they were stored anyway)."""

    registry: str
    username: str
    stored_in: str
    verified: bool


# ---- helpers ----------------------------------------------------------------------------------------
def _settings(settings: Settings | None) -> Settings:
    return settings or Settings.from_env()


def _remote(remote: RemoteSettings | None) -> RemoteSettings:
    return remote or RemoteSettings.from_env()


def parse_remote(ref: str, *, default_tag: bool = True) -> Reference:
    """Parse a reference that must name a registry; the tag defaults to ``latest`` without a digest."""
    r = Reference.parse(ref)
    if r.registry is None:
        raise InvalidReference(f"{ref} names no registry", hint=f"write it as HOST[:PORT]/{r.repository}"
                               + (f":{r.tag}" if r.tag else ""))
    return r.or_latest() if default_tag else r


def resolve_checked(target: Target, r: Reference) -> Descriptor:
    """Resolve ``r`` in ``target``: by digest when there is one (the digest wins), and with ``tag@digest``
    refuse when the tag exists and names another manifest."""
    if r.digest:
        desc = target.resolve(r.digest)
        if r.tag:
            try:
                tagged = target.resolve(r.tag)
            except NotFound:
                tagged = None
            if tagged is not None and tagged.digest != r.digest:
                raise DigestMismatch(f"{r.name}:{r.tag} is {tagged.digest}, not {r.digest}",
                                     hint="the tag has moved: pull by digest alone, or by tag alone")
        return desc
    assert r.tag is not None
    return target.resolve(r.tag)


class _Tally(Progress):
    """Forwards events to the caller's progress and records distinct nodes across rounds."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.copied_nodes: dict[str, int] = {}
        self.skipped_nodes: dict[str, int] = {}
        self.mounted_nodes: dict[str, int] = {}
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
        self.inner.skipped(desc)

    def mounted(self, desc: Descriptor) -> None:
        with self._lock:
            self.mounted_nodes[desc.digest] = desc.size
        self.inner.mounted(desc)


def _network_cause(exc: BaseException) -> bool:
    seen = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        if isinstance(node, TransportError):
            return True
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    return False


def _rounds(run: Callable[[], T], rounds: int) -> tuple[T, int]:
    """Run ``run``; run it again (up to ``rounds`` times) when it failed because of the network."""
    for attempt in range(1, rounds + 1):
        try:
            return run(), attempt
        except ModelcrateError as exc:
            if attempt == rounds or cancelled() or not _network_cause(exc):
                raise
    raise AssertionError("unreachable")


def _copy(src: Target, root: Descriptor, dst: Target, tag: str | None, *, concurrency: int, progress: Progress,
          mount_from: str | None, rounds: int, referrers: bool = True) -> tuple[CopyResult, _Tally, int]:
    tally = _Tally(progress)
    options = CopyOptions(concurrency=max(1, concurrency), progress=tally, mount_from=mount_from,
                          referrers=referrers)
    result, used = _rounds(lambda: copy(src, root.digest, dst, tag, options), rounds)
    return result, tally, used


def _result(reference: str, root: Descriptor, result: CopyResult, tally: _Tally, rounds: int,
            clients: list[RegistryClient], files: tuple[tuple[str, int], ...] = ()) -> TransferResult:
    copied, mounted = tally.copied_nodes, tally.mounted_nodes
    # a node copied in an earlier round shows up as skipped in a later one: it counts as copied
    skipped = {d: n for d, n in tally.skipped_nodes.items() if d not in copied and d not in mounted}
    total = sum({**skipped, **copied, **mounted}.values())
    return TransferResult(
        reference=reference, digest=root.digest, media_type=root.media_type, size=total,
        copied=len(copied), skipped=len(skipped), mounted=len(mounted),
        bytes_copied=sum(copied.values()), bytes_skipped=sum(skipped.values()),
        bytes_sent=sum(c.stats.uploaded for c in clients), bytes_received=sum(c.stats.downloaded for c in clients),
        referrers=result.referrers, rounds=rounds, files=files)


@contextmanager
def _client(registry: str, remote: RemoteSettings) -> Iterator[RegistryClient]:
    client = RegistryClient(registry, remote)
    try:
        yield client
    finally:
        client.close()


# ---- operations ---------------------------------------------------------------------------------------
def push(ref: str, *, settings: Settings | None = None, remote: RemoteSettings | None = None,
         concurrency: int | None = None, progress: Progress | None = None, rounds: int = DEFAULT_ROUNDS
         ) -> TransferResult:
    """Push the local-store model named ``ref`` (``HOST/NAME[:TAG][@DIGEST]``) to that registry.

    The local entry has the same name (``modelcrate pack DIR -t HOST/NAME:TAG`` or ``modelcrate tag``).
    With a digest only, the manifest is pushed untagged."""
    s, rs = _settings(settings), _remote(remote)
    r = parse_remote(ref)
    store = LocalStore(s.home)
    src = store.repository(r.name)
    root = resolve_checked(src, r)
    with _client(r.registry or "", rs) as client:
        dst = client.repository(r.repository, push=True)
        result, tally, used = _copy(src, root, dst, r.tag, concurrency=concurrency or s.concurrency,
                                    progress=progress or Progress(), mount_from=None, rounds=rounds)
        return _result(str(r), root, result, tally, used, [client])


def push_dir(directory: str | os.PathLike[str], ref: str, *, modelfile: str | None = None,
             settings: Settings | None = None, remote: RemoteSettings | None = None,
             concurrency: int | None = None, progress: Progress | None = None, rounds: int = DEFAULT_ROUNDS
             ) -> TransferResult:
    """Pack ``directory`` on the fly and push it to ``ref``: each file streams from the directory (tar
    layers are generated again as they are sent); nothing is copied into the local store. The digest is
    the one ``modelcrate pack`` would give."""
    s, rs = _settings(settings), _remote(remote)
    r = parse_remote(ref)
    if r.digest:
        raise UsageError("push DIR takes a name and tag, not a digest: the digest is the result")
    plan = _pack.plan(directory, modelfile, source_date_epoch=s.source_date_epoch)
    source, root = _pack.stage(plan, concurrency=concurrency or s.concurrency)
    with _client(r.registry or "", rs) as client:
        dst = client.repository(r.repository, push=True)
        # A directory has no signatures or attestations to carry along.
        result, tally, used = _copy(source, root, dst, r.tag, concurrency=concurrency or s.concurrency,
                                    progress=progress or Progress(), mount_from=None, rounds=rounds,
                                    referrers=False)
        return _result(str(r), root, result, tally, used, [client])


def pull(ref: str, *, settings: Settings | None = None, remote: RemoteSettings | None = None,
         concurrency: int | None = None, progress: Progress | None = None, rounds: int = DEFAULT_ROUNDS,
         verify: _signatures.Policy | _signatures.Verifier | None = None) -> TransferResult:
    """Pull ``HOST/NAME[:TAG][@DIGEST]`` into the local store under the same name.

    With a digest the digest wins and every byte is checked against it; with ``TAG@DIGEST`` the tag must
    not name another manifest. Pulled by digest alone, the manifest is kept untagged (safe from GC).
    With ``verify`` (a key verifier or a policy) the model is refused before any blob is fetched unless
    the registry holds signatures that satisfy it."""
    s, rs = _settings(settings), _remote(remote)
    r = parse_remote(ref)
    store = LocalStore(s.home)
    with _client(r.registry or "", rs) as client:
        src, root = _pull_source(client, r, verify)
        dst = store.repository(r.name)
        with store.writing():
            result, tally, used = _copy(src, root, dst, r.tag, concurrency=concurrency or s.concurrency,
                                        progress=progress or Progress(), mount_from=None, rounds=rounds)
            if not r.tag:
                dst.keep(root)
        return _result(str(r), root, result, tally, used, [client])


def _pull_source(client: RegistryClient, r: Reference,
                 verify: _signatures.Policy | _signatures.Verifier | None) -> tuple[RegistryTarget, Descriptor]:
    """The repository and root manifest to pull; with ``verify``, its signatures are checked against the
    registry's referrers before a byte of the model is fetched."""
    src = client.repository(r.repository)
    root = resolve_checked(src, r)
    if verify is not None:
        _signatures.verify_before_pull(src, root, r.name, verify)
    return src, root


def pull_to_dir(ref: str, out_dir: str | os.PathLike[str], *, force: bool = False,
                kinds: tuple[str, ...] = (), include: tuple[str, ...] = (),
                settings: Settings | None = None, remote: RemoteSettings | None = None,
                concurrency: int | None = None, progress: Progress | None = None, rounds: int = DEFAULT_ROUNDS,
                verify: _signatures.Policy | _signatures.Verifier | None = None,
                model_signature: str | os.PathLike[str] | None = None,
                check: _unpack.Check | None = None) -> TransferResult:
    """Write the model's files straight into ``out_dir`` (nothing goes into the local store), with the
    safety rules of :func:`modelcrate.unpack.write_files`: every path checked, links refused, every byte
    verified, and nothing of a refused artifact left behind. ``verify`` refuses an unsigned model before
    any file is written; ``model_signature`` also writes its OpenSSF model-signing bundle to that file.
    Raw layers are fetched ``concurrency`` at a time (default: the settings'); the local store is not used."""
    concurrency = concurrency or _settings(settings).concurrency
    rs = _remote(remote)
    r = parse_remote(ref)
    progress = progress or Progress()
    with _client(r.registry or "", rs) as client:
        src, root = _pull_source(client, r, verify)
        # The OMS bundle is found (and refused if missing) before any file is written.
        signature = None if model_signature is None else _signatures.prepare_model_signature(
            src, root, model_signature, kinds=kinds, include=include, verify=verify, force=force)
        view = _unpack.fetch_model(src, root.digest)
        files = _unpack.select(view, kinds, include)
        watched = _Watched(src, progress)
        written, used = _rounds(lambda: _unpack.write_files(watched, files, Path(out_dir), force=force,
                                                            concurrency=concurrency, check=check), rounds)
        if signature is not None and model_signature is not None:  # beside the files
            _signatures.save_model_signature(signature, model_signature, force=force)
        size = sum(f.descriptor.size for f in files)
        return TransferResult(reference=str(r), digest=root.digest, media_type=root.media_type, size=size,
                              copied=len(files), bytes_copied=size, bytes_sent=client.stats.uploaded,
                              bytes_received=client.stats.downloaded, rounds=used, files=tuple(written.files))


def copy_ref(src_ref: str, dst_ref: str, *, settings: Settings | None = None,
             remote: RemoteSettings | None = None, concurrency: int | None = None,
             progress: Progress | None = None, rounds: int = DEFAULT_ROUNDS) -> TransferResult:
    """Copy between registries or repositories (either side may be a local-store name). On one registry,
    blobs are mounted across repositories instead of moved. Without a tag on ``dst_ref`` the source's tag
    is used; signatures and attestations come along."""
    s, rs = _settings(settings), _remote(remote)
    sr = Reference.parse(src_ref).or_latest()
    dr = Reference.parse(dst_ref)
    if dr.digest:
        raise UsageError(f"{dst_ref}: the destination takes a name and tag, not a digest")
    tag = dr.tag or sr.tag
    clients: dict[str, RegistryClient] = {}
    store: LocalStore | None = None

    def target(r: Reference, push_: bool) -> Target:
        nonlocal store
        if r.registry is None:
            store = store or LocalStore(s.home)
            return store.repository(r.name)
        client = clients.get(r.registry) or clients.setdefault(r.registry, RegistryClient(r.registry, rs))
        return client.repository(r.repository, push=push_)

    try:
        src, dst = target(sr, False), target(dr, True)
        root = resolve_checked(src, sr)
        mount_from = (sr.repository if sr.registry is not None and sr.registry == dr.registry
                      and sr.repository != dr.repository else None)

        def run() -> tuple[CopyResult, _Tally, int]:
            return _copy(src, root, dst, tag, concurrency=concurrency or s.concurrency,
                         progress=progress or Progress(), mount_from=mount_from, rounds=rounds)

        if isinstance(dst, LocalRepository):
            with dst.store.writing():
                result, tally, used = run()
                if not tag:
                    dst.keep(root)
        else:
            result, tally, used = run()
        shown = f"{dr.name}:{tag}" if tag else f"{dr.name}@{root.digest}"
        return _result(shown, root, result, tally, used, list(clients.values()))
    finally:
        for c in clients.values():
            c.close()


def list_tags(repo: str, *, remote: RemoteSettings | None = None, show_referrers: bool = False) -> list[str]:
    """Tags of ``HOST/NAME`` on its registry, sorted. The ``sha256-<hex>`` tags that hold signatures and
    the referrers fallback index are left out unless ``show_referrers``."""
    r = parse_remote(repo, default_tag=False)
    if r.tag or r.digest:
        raise UsageError(f"{repo}: name a repository, without a tag or digest")
    with _client(r.registry or "", _remote(remote)) as client:
        found = client.repository(r.repository).tags()
    return found if show_referrers else [t for t in found if not is_referrers_tag(t)]


def catalog(registry: str, *, remote: RemoteSettings | None = None) -> list[str]:
    """Repositories of ``HOST[:PORT]`` (``GET /v2/_catalog``), sorted."""
    with _client(_registry_host(registry), _remote(remote)) as client:
        return client.catalog()


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


def login(registry: str, username: str, password: str, *, remote: RemoteSettings | None = None) -> LoginResult:
    """Check ``username``/``password`` with an authenticated ``GET /v2/`` and only then store them in the
    docker config (or its credential helper). Wrong credentials raise AuthError and store nothing."""
    rs = _remote(remote)
    host = _registry_host(registry)
    if not username or not password:
        raise UsageError("login needs a username and a password")
    creds = Credentials(username, password)
    with _client(host, replace(rs, credentials=creds)) as client:
        client.ping()
        verified = client.auth.scheme is not None
    where = rs.docker().store(host, creds)
    return LoginResult(host, username, where, verified)


def logout(registry: str, *, remote: RemoteSettings | None = None) -> bool:
    """Forget the stored credentials for ``registry``; False if there were none."""
    return _remote(remote).docker().erase(_registry_host(registry))


class _Watched:
    """A Target wrapper that reports fetched bytes to a Progress (the verifying stream passes through)."""

    def __init__(self, inner: RegistryTarget, progress: Progress) -> None:
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


def open_target(ref: Reference, *, settings: Settings | None = None, remote: RemoteSettings | None = None,
                push: bool = False, local: bool = False) -> AbstractContextManager[Target]:
    """The Target for ``ref``: a registry repository, or the local store for names without a registry (or
    for any name, with ``local``). With ``push``, the local store is kept from garbage collection while the
    caller writes, since a write is blobs first and the index entry that keeps them last."""

    @contextmanager
    def cm() -> Iterator[Target]:
        if local or ref.registry is None:
            store = LocalStore(_settings(settings).home)
            with store.writing() if push else nullcontext():
                yield store.repository(ref.name)
            return
        with _client(ref.registry, _remote(remote)) as client:
            yield client.repository(ref.repository, push=push)

    return cm()


__all__ = ["LoginResult", "TransferResult", "catalog", "copy_ref", "list_tags", "login", "logout", "open_target",
           "parse_remote", "pull", "pull_to_dir", "push", "push_dir", "resolve_checked"]
