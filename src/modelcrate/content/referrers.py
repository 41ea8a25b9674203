"""Referrers: manifests whose ``subject`` is a model (signatures, attestations, later approvals).

Works on any Target. Writers push the referrer manifest by digest and, where the target has no OCI 1.1
referrers API (registry 2.8.2, the local store), maintain the distribution-spec fallback: an image index
tagged ``sha256-<hex>`` of the subject, read-modify-write, each entry carrying the referrer's
``artifactType`` and annotations. Registries offer no compare-and-swap on tags, so after writing we re-read
(twice, with a pause) and write again if a concurrent writer dropped our entry; where the target has a
lock (the local store) the whole cycle runs under it. Superseded indexes are never deleted: other
clients may still be reading them.

Readers merge the API answer, the fallback index and cosign's legacy ``sha256-<hex>.sig`` tag, then open
every referrer manifest and keep only those whose own ``subject`` really is the model: index entries are
hints, never trusted.
"""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass

from ..errors import InvalidManifest, NotFound, StoreError
from ..format import digest as _digest
from ..format.descriptor import Descriptor, Manifest, build_index, build_manifest, parse_index, parse_manifest
from ..format.mediatypes import EMPTY_JSON, INDEX_TYPES, MAX_MANIFEST_BYTES, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from .target import ReferrersAPI, TagLocker, Target
from .verify import read_all

COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
_VERIFY_PAUSES = (0.05, 0.2)  # seconds between re-reads of the fallback index after writing it
_ATTEMPTS = 6


def fallback_tag(subject_digest: str) -> str:
    """``sha256:<hex>`` → ``sha256-<hex>`` (distribution-spec "Referrers Tag Schema")."""
    return _digest.validate(subject_digest).replace(":", "-", 1)


def cosign_signature_tag(subject_digest: str) -> str:
    """cosign's legacy signature tag: ``sha256-<hex>.sig``."""
    return fallback_tag(subject_digest) + ".sig"


@dataclass(frozen=True)
class Referrer:
    """A referrer as read from its own manifest. ``legacy`` marks cosign's tag-based signatures."""

    descriptor: Descriptor
    manifest: Manifest
    legacy: bool = False

    @property
    def artifact_type(self) -> str:
        return self.manifest.artifact_type or self.manifest.config.media_type

    @property
    def annotations(self) -> dict[str, str]:
        return self.manifest.annotations


def build_referrer(subject: Descriptor, *, artifact_type: str, blob: bytes, blob_media_type: str,
                   annotations: dict[str, str], blob_title: str | None = None) -> tuple[bytes, Descriptor]:
    """Exact bytes of a referrer manifest (empty config, one layer) and the blob's descriptor."""
    blob_desc = Descriptor.of(blob_media_type, blob,
                              annotations={"org.opencontainers.image.title": blob_title} if blob_title else None)
    raw = build_manifest(Descriptor.of(OCI_EMPTY, EMPTY_JSON), [blob_desc], artifact_type=artifact_type,
                         annotations=annotations, subject=subject)
    return raw, blob_desc


def attach(target: Target, subject: Descriptor, *, artifact_type: str, blob: bytes, blob_media_type: str,
           annotations: dict[str, str], blob_title: str | None = None) -> Descriptor:
    """Store ``blob`` as a referrer of ``subject`` in ``target``; return the referrer's descriptor."""
    raw, blob_desc = build_referrer(subject, artifact_type=artifact_type, blob=blob,
                                    blob_media_type=blob_media_type, annotations=annotations, blob_title=blob_title)
    target.push(Descriptor.of(OCI_EMPTY, EMPTY_JSON), io.BytesIO(EMPTY_JSON))
    target.push(blob_desc, io.BytesIO(blob))
    desc = Descriptor(OCI_MANIFEST, _digest.of(raw), len(raw), annotations or None, artifact_type)
    target.push(desc, io.BytesIO(raw))
    register(target, subject, desc)
    return desc


def register(target: Target, subject: Descriptor, referrer: Descriptor) -> None:
    """Make ``referrer`` (already pushed) discoverable from ``subject`` on ``target``."""
    if isinstance(target, ReferrersAPI) and target.has_referrers_api():
        return  # the registry indexes it from the manifest's subject by itself (probed once, then known)
    if isinstance(target, TagLocker):
        with target.tag_lock():
            _add_to_index(target, subject, referrer, pauses=())
    else:
        _add_to_index(target, subject, referrer, pauses=_VERIFY_PAUSES)


def _read_index(target: Target, tag: str) -> list[Descriptor]:
    try:
        desc = target.resolve(tag)
    except NotFound:
        return []
    if desc.media_type not in INDEX_TYPES:
        raise InvalidManifest(f"tag {tag} should hold a referrers index but holds {desc.media_type}")
    with target.fetch(desc) as f:
        return list(parse_index(read_all(f, desc, MAX_MANIFEST_BYTES)).manifests)


def _add_to_index(target: Target, subject: Descriptor, referrer: Descriptor, *, pauses: tuple[float, ...]) -> None:
    tag = fallback_tag(subject.digest)
    for _attempt in range(_ATTEMPTS):
        entries = _read_index(target, tag)
        if any(e.digest == referrer.digest for e in entries):
            return  # already listed (a copy of the same signature, or our own earlier write)
        raw = build_index([*entries, referrer])
        desc = Descriptor(OCI_INDEX, _digest.of(raw), len(raw))
        target.push(desc, io.BytesIO(raw))
        target.tag(desc, tag)
        if all(_still_listed(target, tag, referrer, pause) for pause in pauses):
            return
    raise StoreError(f"could not record referrer {referrer.digest} in {tag}: concurrent writers kept replacing it",
                     hint="run the command again")


def _still_listed(target: Target, tag: str, referrer: Descriptor, pause: float) -> bool:
    time.sleep(pause * (1 + random.random()))
    return any(e.digest == referrer.digest for e in _read_index(target, tag))


def list_referrers(target: Target, subject: Descriptor, artifact_type: str | None = None) -> list[Referrer]:
    """Every referrer of ``subject`` found by any discovery path, each opened and checked."""
    candidates: dict[str, tuple[Descriptor, bool]] = {}
    api = target.referrers_api(subject) if isinstance(target, ReferrersAPI) else None
    for d in [*(api or []), *_read_index(target, fallback_tag(subject.digest))]:
        candidates.setdefault(d.digest, (d, False))
    try:
        sig = target.resolve(cosign_signature_tag(subject.digest))
        candidates.setdefault(sig.digest, (sig, True))
    except NotFound:
        pass
    out = []
    for desc, legacy in candidates.values():
        referrer = _open(target, desc, subject, legacy)
        if referrer is not None and (artifact_type is None or referrer.artifact_type == artifact_type):
            out.append(referrer)
    return sorted(out, key=lambda r: (r.annotations.get("org.opencontainers.image.created", ""), r.descriptor.digest))


def _open(target: Target, desc: Descriptor, subject: Descriptor, legacy: bool) -> Referrer | None:
    try:
        with target.fetch(Descriptor(OCI_MANIFEST, desc.digest, desc.size)) as f:
            manifest = parse_manifest(read_all(f, desc, MAX_MANIFEST_BYTES))
    except (NotFound, InvalidManifest):
        return None  # a dangling or malformed entry is ignored, not trusted
    if legacy:
        return Referrer(manifest.descriptor(), manifest, legacy=True)
    if manifest.subject is None or manifest.subject.digest != subject.digest:
        return None  # listed under this subject, but its own subject says otherwise
    return Referrer(manifest.descriptor(), manifest)

