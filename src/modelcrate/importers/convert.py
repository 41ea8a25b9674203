"""Turn a KitOps ModelKit or another tool's ModelPack artifact into a model directory (``import REF DIR``)
or a modelcrate model (``convert``) without changing a file."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import api, foreign
from .._internal.fsutil import atomic_write
from ..config import Config
from ..errors import AlreadyExists, UsageError
from ..format import modelfile as _modelfile
from ..format.reference import Reference
from ..targets import open_target, resolve
from ..unpacking import fetch_model, write_files


@dataclass(frozen=True)
class Materialized:
    """A foreign artifact written out as a model directory with its modelcrate.yaml."""

    modelfile: Path
    source_kind: str
    files: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Converted:
    reference: str
    digest: str
    source_kind: str
    files: list[tuple[str, int]] = field(default_factory=list)


def materialize(ref: str, out_dir: str | os.PathLike[str], *, config: Config, force: bool = False,
                local: bool = False) -> Materialized:
    """Write the files of the KitOps or ModelPack artifact at ``ref`` into ``out_dir`` (unpack's checks,
    every byte verified) and a modelcrate.yaml made from its metadata (the Kitfile or ModelPack config),
    ready for ``pack``. Nothing is overwritten without ``force``."""
    r = Reference.parse(ref).or_latest()
    root = Path(out_dir)
    dest = root / _modelfile.FILENAME
    if dest.exists() and not force:
        raise AlreadyExists(f"{dest} exists", hint="use --force to overwrite it")
    with open_target(r, config, write=False, local=local) as t:
        view = fetch_model(t, resolve(t, r))
        source_kind = foreign.kind(view.manifest)
        if source_kind == "modelcrate":
            raise UsageError(f"{ref} is already a modelcrate model",
                             hint="use `modelcrate copy`, `modelcrate tag` or `modelcrate unpack`")
        written = write_files(t, list(view.files), root, force=force)
    atomic_write(dest, _yaml(view.metadata, r, _kinds(view, written.files)).encode("utf-8"))
    return Materialized(dest, source_kind, written.files)


def convert(ref: str, dst: str, *, config: Config, local: bool = False) -> Converted:
    """Re-package the artifact at ``ref`` as a modelcrate model stored locally under ``dst``: its files are
    materialized in a temporary directory and packed from there, so every file keeps its bytes."""
    d = Reference.parse(dst).or_latest()
    if d.digest:
        raise UsageError(f"{dst}: the destination takes a name and tag, not a digest")
    with tempfile.TemporaryDirectory(prefix="modelcrate-convert-") as tmp:
        made = materialize(ref, tmp, config=config, local=local)
        packed = api.pack(tmp, str(d), config=config)
    return Converted(packed.reference, packed.descriptor.digest, made.source_kind, made.files)


def _kinds(view: Any, files: list[tuple[str, int]]) -> dict[str, str]:
    """Each written file's kind: its raw layer's, or the kind of the tar layer that held it."""
    by_path = {f.path: f.kind for f in view.files if f.path}
    tar_kinds = [(f.path, f.kind) for f in view.files if f.format != "raw"]
    out = {}
    for rel, _size in files:
        kind = by_path.get(rel)
        if kind is None:
            kind = next((k for p, k in tar_kinds if not p or rel == p or rel.startswith(p + "/")), "dataset")
        out[rel] = kind
    return out


def _yaml(metadata: dict[str, Any] | None, source: Reference, kinds: dict[str, str]) -> str:
    meta = {k: v for k, v in (metadata or {}).items() if k != "schema"}
    meta.setdefault("name", source.repository.rsplit("/", 1)[-1])
    meta.setdefault("version", source.tag or "0.1.0")
    files = [{"path": p, "kind": k} for p, k in sorted(kinds.items())]
    return yaml.safe_dump({**meta, "files": files}, sort_keys=False, allow_unicode=True)
