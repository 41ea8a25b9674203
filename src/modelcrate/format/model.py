"""modelcrate's profile of CNCF ModelPack v1: pure builders and readers (spec/format.md).

- one layer per file (raw) or per grouped directory (deterministic tar), sorted by path;
- each layer annotated with its normalized path and ``{"mode", "size"}`` only (no host mtimes or owners);
- the ModelPack config and the manifest annotations filled from the one metadata document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidManifest
from . import canonical, metadata as _metadata, schemas, untrusted_json
from .descriptor import Descriptor, Manifest, build_manifest, parse_manifest
from .mediatypes import (
    ANN_CREATED, ANN_FILE_METADATA, ANN_FILEPATH, ANN_METADATA, ANN_TITLE, ANN_VERSION, LEGACY_ANN_FILEPATH,
    LEGACY_MODEL_ARTIFACT, LEGACY_MODEL_CONFIG, MODEL_ARTIFACT, MODEL_CONFIG, layer_media_type,
    parse_layer_media_type,
)

CONFIG_SCHEMA = "modelpack-config.schema.json"


def normalize_mode(st_mode: int) -> int:
    """Files are stored as 0644, or 0755 when any execute bit is set: umasks differ between machines,
    and a digest must not."""
    return 0o755 if st_mode & 0o111 else 0o644


def layer_descriptor(kind: str, fmt: str, path: str, digest: str, size: int, mode: int) -> Descriptor:
    """The descriptor of one layer, annotated as spec/format.md "Layers" says."""
    return Descriptor(
        layer_media_type(kind, fmt),
        digest,
        size,
        {
            ANN_FILEPATH: path,
            ANN_TITLE: path,
            ANN_FILE_METADATA: canonical.dumps({"mode": mode, "size": size}).decode(),
        },
    )


def _layer_path(layer: Descriptor) -> str:
    return layer.annotation(ANN_FILEPATH) or layer.annotation(LEGACY_ANN_FILEPATH) or layer.annotation(ANN_TITLE) or ""


def sort_layers(layers: list[Descriptor]) -> list[Descriptor]:
    """Layer order is by path, compared as UTF-8 bytes: the same on every machine and locale."""
    return sorted(layers, key=lambda d: _layer_path(d).encode("utf-8"))


def build_config(meta: dict[str, Any], diff_ids: list[str]) -> bytes:
    """Canonical bytes of the ModelPack config for ``meta``; validated against the ModelPack schema."""
    lineage = meta.get("lineage", {})
    code = lineage.get("code", {})
    descriptor = _present({
        "name": meta["name"],
        "version": meta["version"],
        "title": meta.get("title"),
        "description": meta.get("description"),
        "authors": meta.get("authors"),
        "vendor": meta.get("vendor"),
        "family": meta.get("family"),
        "licenses": [meta["license"]] if meta.get("license") else None,
        "docURL": meta.get("homepage"),
        "sourceURL": code.get("repository"),
        "revision": code.get("commit"),
        "datasetsURL": [d["uri"] for d in lineage.get("datasets", []) if d.get("uri")] or None,
        "createdAt": meta.get("created"),
    })
    config = _present({k: meta.get(k) for k in ("architecture", "format", "paramSize", "precision", "quantization",
                                                 "capabilities")})
    doc = {"descriptor": descriptor, "config": config, "modelfs": {"type": "layers", "diffIds": list(diff_ids)}}
    problems = schemas.errors(CONFIG_SCHEMA, doc)
    if problems:
        raise InvalidManifest(f"the ModelPack config would be invalid: {problems[0]}",
                              hint="fix the matching field in modelcrate.yaml")
    return canonical.dumps(doc)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "", [], {})}


def build_model_manifest(config: Descriptor, layers: list[Descriptor], meta: dict[str, Any]) -> bytes:
    """Canonical bytes of the model manifest: ModelPack artifact type, metadata in an annotation."""
    annotations = {ANN_METADATA: _metadata.encode(meta), ANN_TITLE: meta["name"], ANN_VERSION: meta["version"]}
    if meta.get("created"):
        annotations[ANN_CREATED] = meta["created"]
    return build_manifest(config, sort_layers(layers), artifact_type=MODEL_ARTIFACT, annotations=annotations)


@dataclass(frozen=True)
class ModelFile:
    """One layer as a reader sees it."""

    path: str
    kind: str
    format: str
    descriptor: Descriptor
    mode: int | None


@dataclass(frozen=True)
class ModelView:
    """What ``inspect`` shows: a parsed model manifest, its files and metadata."""

    manifest: Manifest
    files: tuple[ModelFile, ...]
    metadata: dict[str, Any] | None

    @property
    def total_size(self) -> int:
        return sum(f.descriptor.size for f in self.files)


def is_model_manifest(m: Manifest) -> bool:
    return (m.artifact_type in (MODEL_ARTIFACT, LEGACY_MODEL_ARTIFACT)
            or m.config.media_type in (MODEL_CONFIG, LEGACY_MODEL_CONFIG))


def read_model(raw: bytes, *, metadata: bool = True) -> ModelView:
    """Parse untrusted model-manifest bytes (current or legacy ModelPack names). Without ``metadata`` the
    metadata annotation is left undecoded (None): validating it against its schema costs more than the
    rest, and writing the files does not need it."""
    m = parse_manifest(raw)
    if not is_model_manifest(m):
        raise InvalidManifest(
            f"not a model artifact (artifactType {m.artifact_type!r}, config {m.config.media_type!r})")
    files = []
    for i, layer in enumerate(m.layers):
        parsed = parse_layer_media_type(layer.media_type)
        if parsed is None:
            raise InvalidManifest(f"layer {i} has media type {layer.media_type!r}, not a ModelPack layer type")
        files.append(ModelFile(_layer_path(layer), parsed[0], parsed[1], layer, _mode_of(layer)))
    return ModelView(m, tuple(files), _metadata.decode(m.annotations.get(ANN_METADATA)) if metadata else None)


def _mode_of(layer: Descriptor) -> int | None:
    text = layer.annotation(ANN_FILE_METADATA)
    if not text:
        return None
    try:
        mode = untrusted_json.loads(text, max_bytes=_metadata.MAX_METADATA_BYTES, what="file metadata").get("mode")
    except (ValueError, AttributeError):
        return None
    return mode if isinstance(mode, int) and 0 <= mode <= 0o7777 else None
