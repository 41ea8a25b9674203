"""The Target abstraction: every place that holds OCI graphs (the local layout, a registry, memory).

A Target is scoped to one repository. Small one-method protocols compose into :class:`Target`;
remote-only abilities are optional capabilities, checked with ``isinstance`` inside operations, never by
asking "is this a registry?".
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol, runtime_checkable

from ..format.descriptor import Descriptor


class Fetcher(Protocol):
    def fetch(self, desc: Descriptor) -> AbstractContextManager[BinaryIO]:
        """Open ``desc``'s content. The stream verifies size and digest as it is read to the end."""
        ...


class Pusher(Protocol):
    def push(self, desc: Descriptor, stream: BinaryIO) -> None:
        """Store ``stream`` as ``desc``; verify size and digest before it becomes visible.
        Pushing content that already exists succeeds without reading the stream."""
        ...


class Storage(Fetcher, Pusher, Protocol):
    def exists(self, desc: Descriptor) -> bool:
        """True if the content is present (and, for manifests, retrievable by digest)."""
        ...


class Resolver(Protocol):
    def resolve(self, reference: str) -> Descriptor:
        """Resolve a tag or digest to the manifest descriptor; raise NotFound."""
        ...


class Tagger(Protocol):
    def tag(self, desc: Descriptor, tag: str) -> None:
        """Point ``tag`` at the manifest ``desc`` (which must already exist)."""
        ...


@runtime_checkable
class Target(Storage, Resolver, Tagger, Protocol):
    """Content-addressed storage with tags, scoped to one repository."""

    name: str


@runtime_checkable
class TagLister(Protocol):
    def tags(self) -> list[str]:
        """All tags of the repository, sorted."""
        ...


@runtime_checkable
class ReferrersAPI(Protocol):
    def referrers_api(self, desc: Descriptor) -> list[Descriptor] | None:
        """The OCI 1.1 referrers API answer for ``desc``; None where the registry has no such API.
        Readers and writers then use the tag-schema fallback (content/referrers.py)."""
        ...

    def has_referrers_api(self) -> bool:
        """Whether the registry indexes referrers itself, so writers need no fallback index. Probed at
        most once (per registry) and then remembered: asking costs no listing of any subject."""
        ...


@runtime_checkable
class TagLocker(Protocol):
    def tag_lock(self) -> AbstractContextManager[object]:
        """A lock that serialises read-modify-write of tags (the local store has one; registries don't)."""
        ...


@runtime_checkable
class Mounter(Protocol):
    def mount(self, desc: Descriptor, from_repository: str) -> bool:
        """Link a blob from another repository of the same registry; False means copy it instead."""
        ...


@runtime_checkable
class UploadStarter(Protocol):
    def begin_upload(self, desc: Descriptor, mount_from: str | None = None) -> str:
        """Get a blob in without its bytes where possible: "present", "mounted", or "upload" (then
        :meth:`push` follows; a remote destination checks existence this way instead of ``exists``)."""
        ...


@runtime_checkable
class FileIngester(Protocol):
    def ingest_file(self, path: str, media_type: str, on_bytes: Callable[[int], None] | None = None) -> Descriptor:
        """Store a file whose digest is not yet known, hashing while copying (``on_bytes`` hears each
        chunk read); return its descriptor."""
        ...


@runtime_checkable
class FileFetcher(Protocol):
    def fetch_into(self, desc: Descriptor, fd: int, *, have: int = 0,
                   on_bytes: Callable[[int], None] | None = None) -> None:
        """Write blob ``desc`` into the read-write file ``fd``, verified before returning (a wrong digest
        raises); ``have`` bytes of it are already in the file (hashed, not fetched again). On an error the
        file keeps only a prefix of the blob, so a later call can resume from its size."""
        ...


@runtime_checkable
class TagFetcher(Protocol):
    def resolve_fetching(self, tag: str) -> Descriptor:
        """Resolve ``tag`` by reading its manifest, kept for the next :meth:`fetch` of it."""
        ...


def resolve_tag(target: Resolver, tag: str, *, fetching: bool = False) -> Descriptor:
    """``tag``'s manifest descriptor. With ``fetching`` (its manifest is read next), a registry resolves it
    with the one GET that also brings the manifest, instead of a HEAD and then a GET."""
    if fetching and isinstance(target, TagFetcher):
        return target.resolve_fetching(tag)
    return target.resolve(tag)


@runtime_checkable
class BlobPuller(Protocol):
    def pull_blob(self, desc: Descriptor, source: Fetcher, on_bytes: Callable[[int], None] | None = None) -> None:
        """Store blob ``desc`` from ``source`` by writing it into a file of this target's own (resumable
        where the source is a :class:`FileFetcher`), verified before it becomes visible."""
        ...
