"""RegistryTarget: one repository of an OCI distribution registry, as a :class:`~modelcrate.content.target.Target`.

It behaves like :class:`~modelcrate.content.layout.LocalRepository`, so push, pull and copy are the one
graph copy of :mod:`modelcrate.graphcopy`. Remote-only abilities are the capabilities ``tags`` (TagLister),
``mount`` (Mounter), ``begin_upload`` (UploadStarter) and ``referrers_api`` / ``has_referrers_api`` (ReferrersAPI). Blobs move through
:mod:`.upload` and :mod:`.download`; manifests are handled here.

Manifests are fetched with every OCI and Docker manifest type in ``Accept`` (registry 2.8.2 answers 404
to an OCI manifest GET without them), read with a 4 MiB cap, and checked against the requested digest,
the ``Docker-Content-Digest`` header and ``Content-Length``; their bytes are kept exactly, and recently
seen ones are cached (by digest, so a cached manifest is as good as a fetched one).
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ...errors import DigestMismatch, InvalidManifest, InvalidReference, NotFound, RegistryError, SizeMismatch
from ...format import digest as _digest
from ...format.descriptor import Descriptor, declared_media_type, is_manifest_type
from ...format.mediatypes import MANIFEST_TYPES, MAX_MANIFEST_BYTES
from ...format.reference import Reference, validate_tag
from ..verify import read_all, verifying
from . import download, listing, referrers_api, segmented
from .client import RegistryClient
from .http import Response
from .settings import MiB, RemoteSettings
from .upload import Uploader

MANIFEST_ACCEPT = ", ".join(MANIFEST_TYPES)
_MANIFEST_CACHE_BYTES = 16 * MiB


class RegistryTarget:
    """One repository on a registry: a Target with the TagLister, Mounter and ReferrersAPI capabilities.

    >>> repo = RegistryClient("localhost:5000").repository("team/bert", push=True)   # doctest: +SKIP
    >>> copy(local.repository("localhost:5000/team/bert"), "1.0", repo, "1.0")       # doctest: +SKIP
    """

    def __init__(self, client: RegistryClient, repository: str, *, push: bool = False) -> None:
        self.client = client
        self.repository = repository
        self.name = f"{client.registry}/{repository}"
        self.scopes = (f"repository:{repository}:{'pull,push' if push else 'pull'}",)
        self.uploads = Uploader(self)
        self._manifests: OrderedDict[str, bytes] = OrderedDict()
        self._manifest_bytes = 0
        self._lock = threading.Lock()

    @classmethod
    def open(cls, reference: str | Reference, settings: RemoteSettings | None = None, *,
             push: bool = False) -> RegistryTarget:
        ref = Reference.parse(reference) if isinstance(reference, str) else reference
        if ref.registry is None:
            raise InvalidReference(f"{ref} names no registry; write it as HOST[:PORT]/{ref.repository}")
        return cls(RegistryClient(ref.registry, settings), ref.repository, push=push)

    def __repr__(self) -> str:
        return f"RegistryTarget({self.name!r})"

    def url(self, kind: str, ref: str = "") -> str:
        """``…/v2/<repository>/<kind>/<ref>`` on this registry (kind: blobs, manifests, tags, referrers)."""
        return self.client.url(f"/v2/{self.repository}/{kind}/{ref}")

    def request(self, method: str, url: str, **kw: Any) -> Response:
        """:meth:`RegistryClient.request` with this repository's scopes unless ``scopes`` is given."""
        return self.client.request(method, url, scopes=kw.pop("scopes", self.scopes), **kw)

    # ---- Storage ------------------------------------------------------------------------------------
    def exists(self, desc: Descriptor) -> bool:
        manifest = is_manifest_type(desc.media_type)
        url = self.url("manifests" if manifest else "blobs", desc.digest)
        headers = {"Accept": MANIFEST_ACCEPT} if manifest else {}
        with self.request("HEAD", url, headers=headers, idempotent=True, follow=not manifest) as resp:
            if resp.status == 404:
                return False
            if resp.status != 200:
                raise self.client.error(resp, f"check {desc.digest} in {self.name}")
            length = resp.header("Content-Length")
            if length is not None and length.isdigit() and int(length) != desc.size:
                raise SizeMismatch(f"{self.name} holds {desc.digest} as {length} bytes; the descriptor says "
                                   f"{desc.size}")
            if not manifest:
                self.client.locations.record(desc.digest, self.repository)
            return True

    @contextlib.contextmanager
    def fetch(self, desc: Descriptor) -> Iterator[BinaryIO]:
        if is_manifest_type(desc.media_type):
            yield verifying(io.BytesIO(self._get_manifest(desc)), desc)
            return
        with download.fetch_blob(self, desc) as stream:
            yield stream

    def fetch_into(self, desc: Descriptor, fd: int, *, have: int = 0,
                   on_bytes: Callable[[int], None] | None = None) -> None:
        """Write blob ``desc`` into the file ``fd``, verified (see :mod:`.segmented`); ``have`` bytes of it
        are there already from an interrupted run and are hashed, not fetched again."""
        segmented.download_to_file(self, desc, fd, have=have, on_bytes=on_bytes)

    def push(self, desc: Descriptor, stream: BinaryIO) -> None:
        """Store ``desc``. A blob the registry holds already is not read (see :mod:`.upload`: the session
        ``POST`` asks, so a caller that just asked ``exists`` costs no second check)."""
        if is_manifest_type(desc.media_type):
            raw = read_all(stream, desc, MAX_MANIFEST_BYTES)
            self._put_manifest(desc.digest, desc.media_type, raw)
            self._remember(desc.digest, raw)
            return
        self.uploads.push(desc, verifying(stream, desc))

    # ---- manifests ----------------------------------------------------------------------------------
    def _remember(self, dgst: str, raw: bytes) -> None:
        with self._lock:
            if dgst in self._manifests:
                return
            self._manifests[dgst] = raw
            self._manifest_bytes += len(raw)
            while self._manifest_bytes > _MANIFEST_CACHE_BYTES and len(self._manifests) > 1:
                _old, gone = self._manifests.popitem(last=False)
                self._manifest_bytes -= len(gone)

    def _get_manifest(self, desc: Descriptor) -> bytes:
        with self._lock:
            cached = self._manifests.get(desc.digest)
        if cached is not None and len(cached) == desc.size:
            return cached
        if desc.size > MAX_MANIFEST_BYTES:
            raise InvalidManifest(f"{desc.digest} is {desc.size} bytes, over the {MAX_MANIFEST_BYTES}-byte limit "
                                  "for manifests")
        with self.request("GET", self.url("manifests", desc.digest), headers={"Accept": MANIFEST_ACCEPT},
                          idempotent=True) as resp:
            if resp.status == 404:
                raise NotFound(f"manifest {desc.digest} is not in {self.name}")
            if resp.status != 200:
                raise self.client.error(resp, f"fetch manifest {desc.digest} from {self.name}")
            said = resp.header("Docker-Content-Digest")
            try:
                raw = resp.read(MAX_MANIFEST_BYTES)
            except RegistryError:
                raise InvalidManifest(f"{self.name} sent more than {MAX_MANIFEST_BYTES} bytes for manifest "
                                      f"{desc.digest}") from None
            self.client.stats.add(downloaded=len(raw))
        actual = _digest.of(raw)
        if actual != desc.digest or (said and said != desc.digest):
            raise DigestMismatch(f"{self.name} sent a manifest hashing to {actual} "
                                 f"(header {said or 'absent'}) when asked for {desc.digest}")
        if len(raw) != desc.size:
            raise SizeMismatch(f"manifest {desc.digest} is {len(raw)} bytes; the descriptor says {desc.size}")
        self._remember(desc.digest, raw)
        return raw

    def _put_manifest(self, reference: str, media_type: str, raw: bytes) -> None:
        if len(raw) > MAX_MANIFEST_BYTES:
            raise InvalidManifest(f"manifest is {len(raw)} bytes; registries refuse more than {MAX_MANIFEST_BYTES}")
        dgst = _digest.of(raw)
        with self.request("PUT", self.url("manifests", reference), headers={"Content-Type": media_type},
                          body=raw, idempotent=True) as resp:
            if resp.status not in (200, 201):
                raise self.client.error(resp, f"push manifest {dgst} to {self.name}"
                                        + (f" as {reference}" if reference != dgst else ""))
            said = resp.header("Docker-Content-Digest")
            resp.drain()
        self.client.stats.add(uploaded=len(raw))
        if said and said != dgst:
            raise DigestMismatch(f"{self.name} stored the manifest as {said}, but its bytes hash to {dgst}")

    def resolve(self, reference: str) -> Descriptor:
        by_digest = _digest.is_digest(reference)
        if not by_digest:
            validate_tag(reference)
        shown = f"{self.name}@{reference}" if by_digest else f"{self.name}:{reference}"
        with self.request("HEAD", self.url("manifests", reference), headers={"Accept": MANIFEST_ACCEPT},
                          idempotent=True) as resp:
            if resp.status == 404:
                raise self._missing(shown)
            if resp.status != 200:
                raise self.client.error(resp, f"resolve {shown}")
            said = resp.header("Docker-Content-Digest")
            media_type = (resp.header("Content-Type") or "").split(";")[0].strip()
            length = resp.header("Content-Length")
        if by_digest and said and said != reference:
            raise DigestMismatch(f"{self.name} answers {said} when asked for {reference}")
        if said and _digest.is_digest(said) and media_type in MANIFEST_TYPES and length and length.isdigit():
            return Descriptor(media_type, said, int(length))
        return self._resolve_by_get(reference, shown)

    def resolve_fetching(self, tag: str) -> Descriptor:
        """Resolve ``tag`` with a GET instead of a HEAD, keeping the manifest bytes for the next
        :meth:`fetch`: one request for a tag whose manifest is about to be read anyway."""
        validate_tag(tag)
        return self._resolve_by_get(tag, f"{self.name}:{tag}")

    def _missing(self, shown: str) -> Exception:
        return self.client.not_a_registry(f"resolve {shown}", 404) or \
            NotFound(f"{shown} not found", hint="check the name and tag; see `modelcrate tags`")

    def _resolve_by_get(self, reference: str, shown: str) -> Descriptor:
        """For registries whose HEAD lacks a digest or type: GET the manifest and hash it ourselves."""
        with self.request("GET", self.url("manifests", reference), headers={"Accept": MANIFEST_ACCEPT},
                          idempotent=True) as resp:
            if resp.status == 404:
                raise self._missing(shown)
            if resp.status != 200:
                raise self.client.error(resp, f"resolve {shown}")
            media_type = (resp.header("Content-Type") or "").split(";")[0].strip()
            said = resp.header("Docker-Content-Digest")
            raw = resp.read(MAX_MANIFEST_BYTES)
        self.client.stats.add(downloaded=len(raw))
        dgst = _digest.of(raw)
        if _digest.is_digest(reference) and dgst != reference:
            raise DigestMismatch(f"{self.name} sent a manifest hashing to {dgst} when asked for {reference}")
        # By tag nothing else names the digest, but a registry that says one and sends other bytes (storage
        # that no longer holds what it was given) is refused, as a HEAD and a GET by digest would find.
        if said and said.startswith("sha256:") and said != dgst:
            raise DigestMismatch(f"{shown}: {self.name} answers {said} but sends a manifest hashing to {dgst}")
        if media_type not in MANIFEST_TYPES:
            declared = declared_media_type(raw)
            if declared is None:
                raise InvalidManifest(f"{shown} is not an OCI or Docker manifest")
            media_type = declared
        self._remember(dgst, raw)
        return Descriptor(media_type, dgst, len(raw))

    def tag(self, desc: Descriptor, tag: str) -> None:
        """PUT the manifest's exact bytes under ``tag``."""
        validate_tag(tag)
        self._put_manifest(tag, desc.media_type, self._get_manifest(desc))

    # ---- capabilities -------------------------------------------------------------------------------
    def tags(self) -> list[str]:
        """All tags, sorted."""
        return listing.tag_names(self.client, self.repository, self.scopes)

    def begin_upload(self, desc: Descriptor, mount_from: str | None = None) -> str:
        """"present", "mounted" or "upload": see :meth:`.upload.Uploader.begin` (the existence check, the
        mount from where the blob was seen, and the session for the upload, in one request when it can)."""
        return self.uploads.begin(desc, mount_from)

    def mount(self, desc: Descriptor, from_repository: str) -> bool:
        """Cross-repository mount; False means "copy it" (see :meth:`.upload.Uploader.mount`)."""
        return self.uploads.mount(desc, from_repository)

    def referrers_api(self, desc: Descriptor) -> list[Descriptor] | None:
        """The OCI 1.1 referrers API answer, or None where the registry has none (registry 2.8.2 answers a
        plain-text 404). The capability is probed once per registry; the answer is kept."""
        return referrers_api.list_referrers(self, desc)

    def has_referrers_api(self) -> bool:
        """Whether the registry indexes referrers itself; one probe per registry, then remembered."""
        return referrers_api.has_referrers_api(self)
