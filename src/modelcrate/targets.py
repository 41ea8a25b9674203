"""Opening a Target by reference: the local store for names without a registry, else that registry.

One rule for every operation (pull, push, copy, tag, sign, verify, attest, discover): ``HOST[:PORT]/NAME``
is a registry repository and ``NAME`` (no host) is the local store. A writer on the local store holds the
store's GC lock until the Target is closed, since a write lands blobs first and the index entry that keeps
them last. Registry connections are shared per registry and closed together.

>>> with open_target("localhost:5000/team/bert:1.0", config, write=False) as target:   # doctest: +SKIP
...     target.resolve("1.0")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from .config import Config
from .content.layout import LocalStore
from .content.target import Target, resolve_tag
from .content.verify import read_all
from .errors import DigestMismatch, InvalidManifest, NotFound, UsageError
from .format.descriptor import Descriptor
from .format.mediatypes import MAX_MANIFEST_BYTES
from .format.model import ModelView, read_model
from .format.reference import Reference

if TYPE_CHECKING:
    from .content.remote.registry import RegistryClient, RemoteSettings


def as_reference(reference: str | Reference) -> Reference:
    """Parse ``reference``; without a digest the tag defaults to ``latest``."""
    r = Reference.parse(reference) if isinstance(reference, str) else reference
    return r.or_latest()


class Targets:
    """Opens Targets for one operation and closes them (connections, store locks) at the end."""

    def __init__(self, config: Config | None, *, remote: RemoteSettings | None = None) -> None:
        self.config = config
        self.remote = remote
        self.clients: dict[str, RegistryClient] = {}
        self._store: LocalStore | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Targets:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            for client in self.clients.values():
                client.close()
            self.clients.clear()

    @property
    def store(self) -> LocalStore:
        if self._store is None:
            if self.config is None:
                raise UsageError("this operation has no local store configured", hint="pass a Config")
            self._store = LocalStore(self.config.home)
        return self._store

    def client(self, registry: str) -> RegistryClient:
        if registry not in self.clients:
            from .content.remote.registry import RegistryClient, RemoteSettings  # the HTTP stack, on first use

            remote = self.remote or (self.config.registry() if self.config is not None else RemoteSettings())
            self.clients[registry] = RegistryClient(registry, remote)
        return self.clients[registry]

    def open(self, reference: str | Reference, *, write: bool, local: bool = False) -> Target:
        """The Target ``reference`` names (``local`` forces the local store for any name)."""
        r = as_reference(reference)
        if local or r.registry is None:
            if write:
                self._stack.enter_context(self.store.writing())
            return self.store.repository(r.name)
        return self.client(r.registry).repository(r.repository, push=write)

    def bytes_moved(self) -> tuple[int, int]:
        """(sent, received) body bytes over every registry connection opened so far."""
        return (sum(c.stats.uploaded for c in self.clients.values()),
                sum(c.stats.downloaded for c in self.clients.values()))


@contextmanager
def open_target(reference: str | Reference, config: Config, *, write: bool, local: bool = False,
                remote: RemoteSettings | None = None) -> Iterator[Target]:
    """The Target for ``reference``, open for reading or (``write``) writing, closed on exit."""
    with Targets(config, remote=remote) as targets:
        yield targets.open(reference, write=write, local=local)


def resolve(target: Target, reference: str | Reference, *, fetching: bool = False) -> Descriptor:
    """Resolve ``reference`` in ``target``, the same way for the local store and registries.

    With a digest, the digest wins. With ``TAG@DIGEST`` the tag, where it exists, must name that digest:
    otherwise :class:`~modelcrate.errors.DigestMismatch` (the content exists but the tag has moved; that
    is not "not found"). ``fetching``: the manifest is read next (see :func:`resolve_tag`)."""
    r = as_reference(reference)
    if not r.digest:
        assert r.tag is not None
        return resolve_tag(target, r.tag, fetching=fetching)
    desc = target.resolve(r.digest)
    if r.tag:
        try:
            tagged = target.resolve(r.tag)
        except NotFound:
            tagged = None
        if tagged is not None and tagged.digest != r.digest:
            raise DigestMismatch(f"{r.name}:{r.tag} is {tagged.digest}, not {r.digest}",
                                 hint="the tag has moved: name the digest alone, or the tag alone")
    return desc


def read_subject(target: Target, subject: Descriptor) -> ModelView | None:
    """The model manifest at ``subject``, or None when it is not a model (e.g. an attestation)."""
    with target.fetch(subject) as stream:
        raw = read_all(stream, subject, MAX_MANIFEST_BYTES)
    try:
        return read_model(raw)
    except InvalidManifest:
        return None
