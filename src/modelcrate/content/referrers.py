"""Referrers: manifests whose ``subject`` is a model (signatures, attestations, later approvals).

Works on any Target. Writers push the referrer manifest by digest and, where the target has no OCI 1.1
referrers API (registry 2.8.2, the local store), maintain the distribution-spec fallback: an image index
tagged ``sha256-<hex>`` of the subject, read-modify-write, each entry carrying the referrer's
``artifactType`` and annotations, through :func:`modelcrate.content.tagupdate.update_tag` (under the
target's tag lock where it has one, else write, re-read and retry). Superseded indexes are never deleted:
other clients may still be reading them.

Readers merge the API answer, the fallback index and cosign's legacy ``sha256-<hex>.sig`` tag, then open
every referrer manifest and keep only those whose own ``subject`` really is the model: index entries are
hints, never trusted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from ..errors import DigestMismatch, InvalidManifest, NotFound, SizeMismatch
from ..format import digest as _digest
from ..format.descriptor import Descriptor, Manifest, build_index, build_manifest, parse_index, parse_manifest
from ..format.mediatypes import EMPTY_JSON, INDEX_TYPES, MAX_MANIFEST_BYTES, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from .tagupdate import current, update_tag
from .target import ReferrersAPI, Target
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
    _add_to_index(target, subject, referrer)


def _index_entries(target: Target, desc: Descriptor | None, tag: str) -> list[Descriptor]:
    """The entries of the index ``desc`` found at ``tag`` (none when absent); InvalidManifest if not an index."""
    if desc is None:
        return []
    if desc.media_type not in INDEX_TYPES:
        raise InvalidManifest(f"tag {tag} should hold a referrers index but holds {desc.media_type}")
    with target.fetch(desc) as f:
        return list(parse_index(read_all(f, desc, MAX_MANIFEST_BYTES)).manifests)


def _add_to_index(target: Target, subject: Descriptor, referrer: Descriptor) -> None:
    tag = fallback_tag(subject.digest)

    def change(now: Descriptor | None) -> Descriptor | None:
        entries = _index_entries(target, now, tag)
        if any(e.digest == referrer.digest for e in entries):
            return None  # already listed (a copy of the same signature, or our own earlier write)
        raw = build_index([*entries, referrer])
        desc = Descriptor(OCI_INDEX, _digest.of(raw), len(raw))
        target.push(desc, io.BytesIO(raw))
        return desc

    update_tag(target, tag, change, attempts=_ATTEMPTS, pauses=_VERIFY_PAUSES)


@dataclass(frozen=True)
class Candidate:
    """A referrer as listed (by the API, the fallback index or cosign's tag), not yet opened: a hint."""

    descriptor: Descriptor
    legacy: bool = False


def candidates(target: Target, subject: Descriptor) -> tuple[list[Candidate], list[str]]:
    """Every listed referrer of ``subject``, de-duplicated, unopened; plus notes on what was ignored.

    A fallback tag that holds no readable index is ignored with a note: it cannot hide a referrer the
    API lists, and readers must not fail on what any writer of the repository may have put there.
    """
    notes: list[str] = []
    # Keyed by digest and size: an entry claiming a wrong size must not hide the true entry of that digest.
    found: dict[tuple[str, int], Candidate] = {}
    api = target.referrers_api(subject) if isinstance(target, ReferrersAPI) else None
    tag = fallback_tag(subject.digest)
    try:
        listed = _index_entries(target, current(target, tag), tag)
    except (InvalidManifest, NotFound, DigestMismatch, SizeMismatch) as exc:
        notes.append(f"ignored the referrers tag {tag}: {exc}")
        listed = []
    for d in [*(api or []), *listed]:
        found.setdefault((d.digest, d.size), Candidate(d))
    sig = current(target, cosign_signature_tag(subject.digest))
    if sig is not None:
        found.setdefault((sig.digest, sig.size), Candidate(sig, legacy=True))
    return list(found.values()), notes


def open_candidate(target: Target, candidate: Candidate, subject: Descriptor) -> Referrer:
    """Open a listed referrer and check that its own ``subject`` is ``subject``; InvalidManifest if not."""
    desc = candidate.descriptor
    try:
        with target.fetch(Descriptor(OCI_MANIFEST, desc.digest, desc.size)) as f:
            manifest = parse_manifest(read_all(f, desc, MAX_MANIFEST_BYTES))
    except (NotFound, DigestMismatch, SizeMismatch) as exc:
        raise InvalidManifest(f"listed referrer {desc.digest[:19]}… unreadable: {exc}") from None
    if candidate.legacy:
        return Referrer(manifest.descriptor(), manifest, legacy=True)
    if manifest.subject is None or manifest.subject.digest != subject.digest:
        raise InvalidManifest(f"listed referrer {desc.digest[:19]}… names another subject")
    return Referrer(manifest.descriptor(), manifest)


def list_referrers(target: Target, subject: Descriptor, artifact_type: str | None = None) -> list[Referrer]:
    """Every referrer of ``subject`` found by any discovery path, each opened and checked.

    Dangling, malformed or misdirected entries are ignored, never trusted.
    """
    out = []
    for candidate in candidates(target, subject)[0]:
        try:
            referrer = open_candidate(target, candidate, subject)
        except InvalidManifest:
            continue
        if artifact_type is None or referrer.artifact_type == artifact_type:
            out.append(referrer)
    return sorted(out, key=lambda r: (r.annotations.get("org.opencontainers.image.created", ""), r.descriptor.digest))


