"""Media types, artifact types and annotation keys: constants only, mirroring spec/format.md."""

from __future__ import annotations

# OCI image-spec
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYOUT_VERSION = "1.0.0"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)

# The empty descriptor's blob: the two bytes "{}" (image-spec "Guidance for an Empty Descriptor").
EMPTY_JSON = b"{}"

# CNCF ModelPack v1
MODEL_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"
MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json"
# Legacy names from ModelPack drafts; readers accept them, writers never emit them.
LEGACY_MODEL_ARTIFACT = "application/vnd.cnai.model.manifest.v1+json"
LEGACY_MODEL_CONFIG = "application/vnd.cnai.model.config.v1+json"

# Layer kinds, in the order spec/format.md lists them.
KINDS = ("weight", "weight.config", "code", "doc", "dataset")
# Friendly kind names accepted in modelcrate.yaml.
KIND_ALIASES = {"weights": "weight", "config": "weight.config", "weight-config": "weight.config",
                "docs": "doc", "data": "dataset"}
LAYER_FORMATS = ("raw", "tar")  # modelcrate writes these; readers also accept tar+gzip / tar+zstd


def layer_media_type(kind: str, fmt: str = "raw") -> str:
    """``layer_media_type("weight")`` → ``application/vnd.cncf.model.weight.v1.raw``."""
    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r}")
    return f"application/vnd.cncf.model.{kind}.v1.{fmt}"


def parse_layer_media_type(media_type: str) -> tuple[str, str] | None:
    """``(kind, format)`` for a ModelPack layer media type (current or legacy names), else None."""
    for prefix in ("application/vnd.cncf.model.", "application/vnd.cnai.model."):
        if media_type.startswith(prefix):
            rest = media_type[len(prefix):]
            kind, sep, fmt = rest.rpartition(".v1.")
            if sep and kind in KINDS and fmt in ("raw", "tar", "tar+gzip", "tar+zstd"):
                return kind, fmt
    return None


# Annotation keys
ANN_FILEPATH = "org.cncf.model.filepath"
ANN_FILE_METADATA = "org.cncf.model.file.metadata+json"
ANN_UNTESTED = "org.cncf.model.file.mediatype.untested"
LEGACY_ANN_FILEPATH = "org.cnai.model.filepath"
ANN_TITLE = "org.opencontainers.image.title"
ANN_CREATED = "org.opencontainers.image.created"
ANN_VERSION = "org.opencontainers.image.version"
ANN_REF_NAME = "org.opencontainers.image.ref.name"
ANN_METADATA = "dev.modelcrate.metadata"

# Hard limits (spec/format.md "Limits").
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # registries refuse larger manifests (distribution 2.8.2 does)
MAX_METADATA_BYTES = 256 * 1024  # the metadata annotation, canonical JSON
MAX_LAYERS = 10_000
