"""Build model artifacts by hand, including hostile ones, directly into any Target."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from modelcrate.format import canonical
from modelcrate.format.descriptor import Descriptor, build_manifest
from modelcrate.format.mediatypes import (
    ANN_FILE_METADATA, ANN_FILEPATH, MODEL_ARTIFACT, MODEL_CONFIG, OCI_EMPTY, OCI_MANIFEST,
)


@dataclass
class Layer:
    path: str
    data: bytes
    kind: str = "weight"
    fmt: str = "raw"
    annotations: dict[str, str] | None = None
    declared_size: int | None = None  # lie about the size in the descriptor
    declared_digest: str | None = None  # lie about the digest in the descriptor
    extra: dict[str, str] = field(default_factory=dict)

    def descriptor(self) -> Descriptor:
        real = Descriptor.of(f"application/vnd.cncf.model.{self.kind}.v1.{self.fmt}", self.data)
        annotations = self.annotations if self.annotations is not None else {
            ANN_FILEPATH: self.path, ANN_FILE_METADATA: canonical.dumps({"mode": 0o644, "size": len(self.data)}).decode()}
        return Descriptor(real.media_type, self.declared_digest or real.digest,
                          self.declared_size if self.declared_size is not None else real.size,
                          {**annotations, **self.extra})


def put_model(target, layers: list[Layer], tag: str = "t") -> Descriptor:
    """Push blobs (their real bytes), a config and a manifest naming ``layers`` as declared; tag it."""
    config = canonical.dumps({"descriptor": {"name": "x"}, "config": {}, "modelfs": {"type": "layers",
                                                                                    "diffIds": ["sha256:" + "0" * 64]}})
    config_desc = Descriptor.of(MODEL_CONFIG, config)
    target.push(config_desc, io.BytesIO(config))
    for layer in layers:
        real = Descriptor.of("application/octet-stream", layer.data)
        target.push(real, io.BytesIO(layer.data))
    manifest = build_manifest(config_desc, [layer.descriptor() for layer in layers], artifact_type=MODEL_ARTIFACT)
    desc = Descriptor.of(OCI_MANIFEST, manifest)
    target.push(desc, io.BytesIO(manifest))
    target.tag(desc, tag)
    return desc


def plain_manifest(target, annotations: dict[str, str] | None = None, *, layers: tuple[bytes, ...] = (),
                   tag: str | None = None) -> Descriptor:
    """A non-model manifest (empty config, ``layers`` as raw blobs) pushed into ``target``, tagged ``tag``."""
    config = Descriptor.of(OCI_EMPTY, b"{}")
    blobs = [Descriptor.of("application/octet-stream", data) for data in layers]
    for desc, data in [(config, b"{}"), *zip(blobs, layers)]:
        target.push(desc, io.BytesIO(data))
    raw = build_manifest(config, blobs, annotations=annotations)
    desc = Descriptor.of(OCI_MANIFEST, raw)
    target.push(desc, io.BytesIO(raw))
    if tag is not None:
        target.tag(desc, tag)
    return desc


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A tar from explicit TarInfo headers (links, devices, odd names are all allowed here)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def reg(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def write_model(root: Path, files: dict[str, bytes], *, archive: tuple[str, ...] = (), name: str = "m",
                version: str = "1.0.0", extra: str = "") -> Path:
    """A model directory with a modelcrate.yaml listing ``files`` (kind by extension: weights, code, doc,
    else weight config); directories in ``archive`` become tar layers; ``extra`` is more YAML."""
    root.mkdir(parents=True, exist_ok=True)
    rules = [f"  - {{path: {d}/, kind: code, archive: true}}" for d in archive]
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if any(rel.startswith(d + "/") for d in archive):
            continue
        kind = "weight" if rel.endswith((".safetensors", ".bin", ".gguf")) else \
            "code" if rel.endswith(".py") else "doc" if rel.endswith(".md") else "weight.config"
        rules.append(f"  - {{path: {rel}, kind: {kind}}}")
    (root / "modelcrate.yaml").write_text(
        f"name: {name}\nversion: {version}\nlicense: Apache-2.0\ncreated: \"2025-01-01T00:00:00Z\"\n{extra}"
        "files:\n" + "\n".join(rules) + "\n")
    return root
