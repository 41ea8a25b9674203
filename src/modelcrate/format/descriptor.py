"""Descriptors, manifests and indexes: parse untrusted bytes strictly, build exact bytes.

Raw bytes travel beside the parsed value (``Manifest.raw``): digests are computed over the bytes as
fetched or built, never over a re-serialisation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidManifest
from . import canonical, digest as _digest, untrusted_json
from .mediatypes import INDEX_TYPES, MANIFEST_TYPES, MAX_LAYERS, MAX_MANIFEST_BYTES, OCI_INDEX, OCI_MANIFEST

_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor. Equality and hashing use only media type, digest and size."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = field(default=None, compare=False)
    artifact_type: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, media_type: str, data: bytes, **kw: Any) -> "Descriptor":
        """The descriptor of in-memory ``data``."""
        return cls(media_type, _digest.of(data), len(data), **kw)

    @classmethod
    def from_dict(cls, obj: Any, where: str = "descriptor") -> "Descriptor":
        """Validate an untrusted descriptor object."""
        if not isinstance(obj, dict):
            raise InvalidManifest(f"{where} is not an object")
        media_type = obj.get("mediaType")
        if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
            raise InvalidManifest(f"{where} has an invalid mediaType")
        dgst = obj.get("digest")
        if not isinstance(dgst, str) or not _digest.is_digest(dgst):
            raise InvalidManifest(f"{where} has an invalid or unsupported digest (only sha256 is accepted)")
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or size > 2**53:
            raise InvalidManifest(f"{where} has an invalid size")
        annotations = obj.get("annotations")
        if annotations is not None and not _is_str_map(annotations):
            raise InvalidManifest(f"{where} has annotations that are not a string map")
        artifact_type = obj.get("artifactType")
        if artifact_type is not None and (not isinstance(artifact_type, str) or not _MEDIA_TYPE.fullmatch(artifact_type)):
            raise InvalidManifest(f"{where} has an invalid artifactType")
        return cls(media_type, dgst, size, annotations or None, artifact_type)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def annotation(self, key: str, default: str | None = None) -> str | None:
        return (self.annotations or {}).get(key, default)

    def bare(self) -> "Descriptor":
        """The same descriptor without annotations or artifact type."""
        return Descriptor(self.media_type, self.digest, self.size)


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed image manifest with the exact bytes it came from."""

    raw: bytes
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return _digest.of(self.raw)

    def descriptor(self) -> Descriptor:
        """The descriptor that points at this manifest (artifact type filled in as referrers need it)."""
        return Descriptor(self.media_type, self.digest, len(self.raw), self.annotations or None,
                          self.artifact_type or self.config.media_type)


@dataclass(frozen=True, slots=True)
class Index:
    """A parsed image index with its exact bytes."""

    raw: bytes
    manifests: tuple[Descriptor, ...]
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    media_type: str = OCI_INDEX


def _load_json(raw: bytes, what: str) -> dict[str, Any]:
    obj = untrusted_json.loads(raw, max_bytes=MAX_MANIFEST_BYTES, what=what)
    if not isinstance(obj, dict):
        raise InvalidManifest(f"{what} is not a JSON object")
    if obj.get("schemaVersion") != 2:
        raise InvalidManifest(f"{what} has schemaVersion {obj.get('schemaVersion')!r}, expected 2")
    return obj


def _common(obj: dict[str, Any], what: str) -> tuple[str | None, Descriptor | None, dict[str, str]]:
    artifact_type = obj.get("artifactType")
    if artifact_type is not None and (not isinstance(artifact_type, str) or not _MEDIA_TYPE.fullmatch(artifact_type)):
        raise InvalidManifest(f"{what} has an invalid artifactType")
    subject = Descriptor.from_dict(obj["subject"], f"{what} subject") if obj.get("subject") is not None else None
    annotations = obj.get("annotations") or {}
    if not _is_str_map(annotations):
        raise InvalidManifest(f"{what} annotations are not a string map")
    return artifact_type, subject, annotations


def parse_manifest(raw: bytes, media_type: str | None = None) -> Manifest:
    """Parse untrusted image-manifest bytes. ``media_type`` is what the transport said, if anything."""
    obj = _load_json(raw, "manifest")
    declared = obj.get("mediaType")
    if declared is not None and declared not in MANIFEST_TYPES:
        raise InvalidManifest(f"manifest has unsupported mediaType {str(declared)[:100]!r}")
    mt = declared or media_type or OCI_MANIFEST
    if mt in INDEX_TYPES:
        raise InvalidManifest("expected an image manifest, got an image index")
    if media_type and declared and media_type != declared:
        raise InvalidManifest(f"manifest says mediaType {declared!r} but was served as {media_type!r}")
    config = Descriptor.from_dict(obj.get("config"), "manifest config")
    layers_obj = obj.get("layers")
    if not isinstance(layers_obj, list):
        raise InvalidManifest("manifest layers is not a list")
    if len(layers_obj) > MAX_LAYERS:
        raise InvalidManifest(f"manifest has {len(layers_obj)} layers, over the limit of {MAX_LAYERS}")
    layers = tuple(Descriptor.from_dict(d, f"manifest layer {i}") for i, d in enumerate(layers_obj))
    artifact_type, subject, annotations = _common(obj, "manifest")
    return Manifest(raw, mt, config, layers, artifact_type, subject, annotations)


def parse_index(raw: bytes) -> Index:
    """Parse untrusted image-index bytes."""
    obj = _load_json(raw, "index")
    declared = obj.get("mediaType")
    if declared is not None and declared not in INDEX_TYPES:
        raise InvalidManifest(f"index has unsupported mediaType {str(declared)[:100]!r}")
    items = obj.get("manifests")
    if not isinstance(items, list):
        raise InvalidManifest("index manifests is not a list")
    manifests = tuple(Descriptor.from_dict(d, f"index entry {i}") for i, d in enumerate(items))
    artifact_type, subject, annotations = _common(obj, "index")
    return Index(raw, manifests, artifact_type, subject, annotations, declared or OCI_INDEX)


def successors(desc: Descriptor, raw: bytes) -> list[Descriptor]:
    """The nodes a manifest or index points at (config and layers, or child manifests); [] for blobs.

    The ``subject`` is deliberately not a successor: a referrer is copied after its subject, not before.
    """
    if desc.media_type in INDEX_TYPES:
        return list(parse_index(raw).manifests)
    if desc.media_type in MANIFEST_TYPES:
        m = parse_manifest(raw, desc.media_type)
        return [m.config, *m.layers]
    return []


def declared_media_type(raw: bytes) -> str | None:
    """The manifest or index type that ``raw`` declares in its ``mediaType`` member; None when it declares
    none of them or is not a JSON object (for content whose type no header or descriptor gave)."""
    try:
        declared = untrusted_json.loads(raw, max_bytes=MAX_MANIFEST_BYTES, what="manifest").get("mediaType")
    except (ValueError, AttributeError):
        return None
    return declared if declared in MANIFEST_TYPES else None


def is_manifest_type(media_type: str) -> bool:
    return media_type in MANIFEST_TYPES


def build_manifest(
    config: Descriptor,
    layers: list[Descriptor] | tuple[Descriptor, ...],
    *,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
    subject: Descriptor | None = None,
) -> bytes:
    """Exact canonical bytes of an OCI image manifest."""
    obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_dict(),
        "layers": [layer.to_dict() for layer in layers],
    }
    raw = _with_optional(obj, artifact_type, annotations, subject)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidManifest(f"manifest would be {len(raw)} bytes, over the {MAX_MANIFEST_BYTES}-byte limit")
    return raw


def build_index(
    manifests: list[Descriptor],
    *,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
    subject: Descriptor | None = None,
) -> bytes:
    """Exact canonical bytes of an OCI image index."""
    obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [m.to_dict() for m in manifests],
    }
    return _with_optional(obj, artifact_type, annotations, subject)


def _with_optional(obj: dict[str, Any], artifact_type: str | None, annotations: dict[str, str] | None,
                   subject: Descriptor | None) -> bytes:
    """Add the optional fields manifests and indexes share, then serialise canonically."""
    if artifact_type:
        obj["artifactType"] = artifact_type
    if subject is not None:
        obj["subject"] = subject.bare().to_dict()
    if annotations:
        obj["annotations"] = dict(annotations)
    return canonical.dumps(obj)
