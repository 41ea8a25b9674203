"""Convert a KitOps ModelKit or another tool's ModelPack artifact into a modelcrate model without changing
a file."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import api, foreign, transfer
from ..errors import UsageError
from ..format import modelfile as _modelfile
from ..format.reference import Reference
from ..settings import Settings
from ..unpack import fetch_model, write_files


@dataclass(frozen=True)
class Converted:
    reference: str
    digest: str
    source_kind: str
    files: list[tuple[str, int]] = field(default_factory=list)


def convert(ref: str, dst: str, *, local: bool = False, settings: Settings | None = None) -> Converted:
    """Re-package the artifact at ``ref`` as a modelcrate model stored locally under ``dst``.

    The source's files are written, with unpack's checks and digest verification, into a temporary
    directory, described by a modelcrate.yaml made from the source's metadata, and packed from there, so
    every file keeps its bytes."""
    s = settings or Settings.from_env()
    r = Reference.parse(ref).or_latest()
    d = Reference.parse(dst).or_latest()
    if d.digest:
        raise UsageError(f"{dst}: the destination takes a name and tag, not a digest")
    with transfer.open_target(r, settings=s, local=local) as t:
        desc = transfer.resolve_checked(t, r)
        view = fetch_model(t, desc.digest)
        source_kind = foreign.kind(view.manifest)
        if source_kind == "modelcrate":
            raise UsageError(f"{ref} is already a modelcrate model", hint="use `modelcrate copy` or `modelcrate tag`")
        with tempfile.TemporaryDirectory(prefix="modelcrate-convert-") as tmp:
            root = Path(tmp)
            written = write_files(t, list(view.files), root)
            kinds = _kinds(view, written.files)
            (root / _modelfile.FILENAME).write_text(_yaml(view.metadata, d, kinds), encoding="utf-8")
            packed = api.pack(root, str(d), settings=s)
    return Converted(packed.reference, packed.descriptor.digest, source_kind, written.files)


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


def _yaml(metadata: dict[str, Any] | None, dst: Reference, kinds: dict[str, str]) -> str:
    meta = {k: v for k, v in (metadata or {}).items() if k != "schema"}
    meta.setdefault("name", dst.repository.rsplit("/", 1)[-1])
    meta.setdefault("version", dst.tag or "0.1.0")
    files = [{"path": p, "kind": k} for p, k in sorted(kinds.items())]
    return yaml.safe_dump({**meta, "files": files}, sort_keys=False, allow_unicode=True)
