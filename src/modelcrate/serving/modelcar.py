"""KServe modelcar images: a base image's layers, then the model's files under ``/models``.

KServe's modelcar mode runs the image as a sidecar and reads ``/models`` through the shared process
namespace, so the base needs only ``/bin/sh``. The image is built as a runtime expects it:

- an OCI image manifest and config; the base image's layers come first, unchanged (same digests);
- the model files follow as uncompressed, deterministic tar layers (entries sorted, uid/gid 0, no owner
  names, modes 0644/0755 from the model, mtime = the model's ``created`` time), so the same model on the
  same base always gives the same image digest;
- every file of at least ``big_file`` bytes gets a layer of its own, whose digest then depends on that
  file alone and dedupes across versions and across images; smaller files share one layer;
- the manifest's ``subject`` is the model manifest: the modelcar is a referrer of the model.

The model's files are first written with every :mod:`modelcrate.unpack` safety check, then tarred.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from datetime import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .. import unpacking as _unpack
from ..content import referrers as _referrers
from ..content.target import Target
from ..content.verify import read_all
from ..errors import InvalidManifest, NotFound
from ..format import canonical
from ..format.descriptor import Descriptor, build_manifest, parse_manifest
from ..format.mediatypes import (
    ANN_CREATED, ANN_TITLE, DOCKER_MANIFEST_LIST, INDEX_TYPES, MAX_MANIFEST_BYTES, OCI_MANIFEST,
)
from ..format.model import read_model

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
# Docker media types of a base image, and the OCI names for the same bytes.
_TO_OCI = {
    "application/vnd.docker.container.image.v1+json": OCI_CONFIG,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar": OCI_LAYER,
}
MODELS_DIR = "models"
BIG_FILE = 1024 * 1024
ANN_MODEL = "dev.modelcrate.modelcar.model"  # on the manifest: the model digest the image carries
ANN_FILES = "dev.modelcrate.modelcar.files"  # on a layer: the model paths it holds, JSON list
_CONFIG_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class ModelcarLayer:
    descriptor: Descriptor
    paths: tuple[str, ...]


@dataclass(frozen=True)
class ModelcarResult:
    """The pushed image: its manifest digest, the base it extends and the model it carries."""

    reference: str
    descriptor: Descriptor
    base_digest: str
    model_digest: str
    base_layers: int
    model_layers: tuple[ModelcarLayer, ...]
    linked: bool  # registered as a referrer of the model (same repository)

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.descriptor.digest, "size": self.descriptor.size,
                "base": self.base_digest, "model": self.model_digest, "baseLayers": self.base_layers,
                "modelLayers": [{"digest": m.descriptor.digest, "size": m.descriptor.size, "files": list(m.paths)}
                                for m in self.model_layers], "referrer": self.linked}


# ---- the base image -----------------------------------------------------------------------------------
def host_platform() -> tuple[str, str]:
    machine = os.uname().machine.lower()
    return "linux", {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def _read(target: Target, desc: Descriptor, limit: int = MAX_MANIFEST_BYTES) -> bytes:
    with target.fetch(desc) as stream:
        return read_all(stream, desc, limit)


def base_image(target: Target, desc: Descriptor, platform: tuple[str, str]) -> tuple[Descriptor, dict[str, Any],
                                                                                     list[Descriptor]]:
    """The base image's manifest descriptor, config document and layers; an index picks ``platform``."""
    raw = _read(target, desc)
    if desc.media_type in INDEX_TYPES or desc.media_type == DOCKER_MANIFEST_LIST:
        entries = json.loads(raw).get("manifests") or []
        for e in entries:
            p = e.get("platform") or {}
            if (p.get("os"), p.get("architecture")) == platform:
                desc = Descriptor.from_dict(e)
                raw = _read(target, desc)
                break
        else:
            raise NotFound(f"the base image has no {platform[0]}/{platform[1]} manifest")
    manifest = parse_manifest(raw, desc.media_type)
    if manifest.config.media_type not in (OCI_CONFIG, *(k for k, v in _TO_OCI.items() if v == OCI_CONFIG)):
        raise InvalidManifest(f"the base is not a container image (config {manifest.config.media_type})")
    config = json.loads(_read(target, manifest.config, _CONFIG_LIMIT))
    if not isinstance(config, dict) or not isinstance((config.get("rootfs") or {}).get("diff_ids"), list):
        raise InvalidManifest("the base image's config has no rootfs.diff_ids")
    return desc, config, list(manifest.layers)


# ---- deterministic tar layers ---------------------------------------------------------------------------
def plan_layers(files: list[tuple[str, int]], big_file: int = BIG_FILE) -> list[list[str]]:
    """Group model paths into layers: each big file alone (in path order), then one layer of the rest."""
    ordered = sorted(files, key=lambda f: f[0].encode("utf-8"))
    groups = [[p] for p, size in ordered if size >= big_file]
    small = [p for p, size in ordered if size < big_file]
    return groups + ([small] if small else [])


class _Hashing(io.RawIOBase):
    def __init__(self, sink: BinaryIO) -> None:
        self.sink, self.hash, self.size = sink, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.hash.update(view)
        self.sink.write(view)
        self.size += len(view)
        return len(view)


def _dirs(paths: list[str]) -> list[str]:
    out = {MODELS_DIR}
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add(f"{MODELS_DIR}/{'/'.join(parts[:i])}")
    return sorted(out, key=lambda d: d.encode("utf-8"))


def _info(name: str, mtime: int, mode: int, kind: bytes = tarfile.REGTYPE, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.size = kind, mode, mtime, size
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_layer(root: Path, paths: list[str], out: BinaryIO, mtime: int) -> tuple[str, int]:
    """Write one tar layer of ``paths`` (relative to ``root``) under ``models/``; return (digest, size).
    GNU format, as olot writes, so sizes over 8 GiB fit readers that ignore PAX size records."""
    sink = _Hashing(out)
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        for d in _dirs(paths):
            tar.addfile(_info(d + "/", mtime, 0o755, tarfile.DIRTYPE))
        for p in paths:
            src = root / p
            st = src.stat()
            mode = 0o755 if st.st_mode & 0o111 else 0o644
            with src.open("rb") as f:
                tar.addfile(_info(f"{MODELS_DIR}/{p}", mtime, mode, size=st.st_size), f)
    return "sha256:" + sink.hash.hexdigest(), sink.size


# ---- the image -------------------------------------------------------------------------------------------
def image_config(base: dict[str, Any], diff_ids: list[str], created: str | None, model_digest: str) -> bytes:
    """The base config with the model layers' diff_ids and history appended (canonical JSON)."""
    config = json.loads(json.dumps(base))
    config["rootfs"] = {"type": "layers", "diff_ids": list(base["rootfs"]["diff_ids"]) + diff_ids}
    history = list(config.get("history") or [])
    for _ in diff_ids:
        entry = {"created_by": f"modelcrate export --modelcar ({model_digest})", "comment": "model files"}
        if created:
            entry["created"] = created
        history.append(entry)
    config["history"] = history
    if created:
        config["created"] = created
    return canonical.dumps(config)


def _created_epoch(created: str | None) -> int:
    if not created:
        return 0
    try:
        return int(datetime.fromisoformat(created).timestamp())
    except ValueError:
        return 0


def export_modelcar(src: Target, model: Descriptor, base: Target, base_ref: Descriptor, dst: Target,
                    tag: str | None, *, big_file: int = BIG_FILE, platform: tuple[str, str] | None = None,
                    workdir: str | os.PathLike[str] | None = None, concurrency: int = 4) -> ModelcarResult:
    """Build the modelcar of ``model`` (in ``src``) on ``base_ref`` (in ``base``) and push it to ``dst``
    (tagged ``tag``); when ``dst`` is the model's repository, register it as the model's referrer."""
    view = read_model(_read(src, model))
    created = (view.metadata or {}).get("created") or view.manifest.annotations.get(ANN_CREATED)
    base_desc, base_config, base_layers = base_image(base, base_ref, platform or host_platform())
    with tempfile.TemporaryDirectory(prefix="modelcar-", dir=workdir) as tmp:
        files_dir = Path(tmp) / "files"
        result = _unpack.unpack(src, model.digest, files_dir, concurrency=concurrency)
        layers: list[ModelcarLayer] = []
        for group in plan_layers(result.files, big_file):
            layer_path = Path(tmp) / f"layer-{len(layers)}.tar"
            with layer_path.open("wb") as out:
                digest, size = write_layer(files_dir, group, out, _created_epoch(created))
            desc = Descriptor(OCI_LAYER, digest, size, {ANN_TITLE: group[0] if len(group) == 1 else MODELS_DIR,
                                                        ANN_FILES: json.dumps(group, separators=(",", ":"))})
            with layer_path.open("rb") as f:
                dst.push(desc, f)  # verified against the digest computed while writing
            layer_path.unlink()
            layers.append(ModelcarLayer(desc, tuple(group)))
        for layer in base_layers:
            if not dst.exists(layer):
                with base.fetch(layer) as stream:
                    dst.push(layer, stream)
    oci_base = [Descriptor(_TO_OCI.get(d.media_type, d.media_type), d.digest, d.size, d.annotations)
                for d in base_layers]
    config = image_config(base_config, [layer.descriptor.digest for layer in layers], created, model.digest)
    config_desc = Descriptor.of(OCI_CONFIG, config)
    dst.push(config_desc, io.BytesIO(config))
    annotations = {ANN_MODEL: model.digest, **({ANN_CREATED: created} if created else {})}
    raw = build_manifest(config_desc, oci_base + [m.descriptor for m in layers], annotations=annotations,
                         subject=Descriptor(model.media_type, model.digest, model.size))
    desc = Descriptor.of(OCI_MANIFEST, raw)
    dst.push(desc, io.BytesIO(raw))
    if tag:
        dst.tag(desc, tag)
    linked = dst.name == src.name
    if linked:
        _referrers.register(dst, model, Descriptor(OCI_MANIFEST, desc.digest, desc.size, annotations, OCI_CONFIG))
    return ModelcarResult(f"{dst.name}:{tag}" if tag else f"{dst.name}@{desc.digest}", desc, base_desc.digest,
                          model.digest, len(base_layers), tuple(layers), linked)


