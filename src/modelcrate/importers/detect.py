"""Find what a model directory already says about itself and write modelcrate.yaml from it.

Sources, strongest first: a KitOps ``Kitfile``, a modctl ``Modelfile``, an MLflow ``MLmodel``, a Hugging
Face model card (README.md front matter) and ``config.json``. A field the stronger source set is kept;
weaker ones only fill gaps. Facts read from weight headers (format, parameter count, precision,
quantization, architecture) come last and never replace a field a source set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from .._internal.fsutil import atomic_write
from ..errors import AlreadyExists, UsageError
from ..facts import WeightFacts, facts_for, safetensors as _safetensors
from ..format import modelfile as _modelfile
from . import huggingface, kitops, mlflow, modctl
from .common import Draft, valid_fields

FORMATS = ("kitops", "modctl", "mlflow", "huggingface")
SOURCE_FILES = {"kitops": kitops.FILENAME, "modctl": modctl.FILENAME, "mlflow": mlflow.FILENAME,
                "huggingface": huggingface.CARD}


@dataclass(frozen=True)
class Written:
    """What ``init`` or ``import`` wrote: the file, the sources it read, what it could not map, and the
    fields filled from weight headers."""

    path: Path
    sources: tuple[str, ...]
    notes: tuple[str, ...] = ()
    facts: dict[str, str] = field(default_factory=dict)


def detect(root: Path) -> list[str]:
    """The source formats present in ``root``, strongest first."""
    found = [fmt for fmt in FORMATS if fmt != "huggingface" and (root / SOURCE_FILES[fmt]).is_file()]
    if (root / huggingface.CONFIG).is_file() or _has_card(root / huggingface.CARD):
        found.append("huggingface")
    return found


def _has_card(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(4).rstrip(b"\r\n") == b"---"


def _read(path: Path) -> bytes:
    if path.stat().st_size > 4 * 1024 * 1024:
        raise UsageError(f"{path}: larger than 4 MiB; not a metadata file modelcrate reads")
    return path.read_bytes()


def drafts(root: Path, formats: list[str]) -> list[Draft]:
    out = []
    for fmt in formats:
        if fmt == "kitops":
            out.append(kitops.from_kitfile(_read(root / kitops.FILENAME)))
        elif fmt == "modctl":
            out.append(modctl.from_modelfile(_read(root / modctl.FILENAME)))
        elif fmt == "mlflow":
            out.append(mlflow.from_mlmodel(_read(root / mlflow.FILENAME)))
        elif fmt == "huggingface":
            if (root / huggingface.CARD).is_file():
                out.append(huggingface.from_card(_read(root / huggingface.CARD).decode("utf-8", "replace")))
            if (root / huggingface.CONFIG).is_file():
                out.append(huggingface.from_config(_read(root / huggingface.CONFIG)))
    return out


def merge(parts: list[Draft]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Metadata (the first source to set a field keeps it; mappings merge one level down), declared kinds
    and notes."""
    meta: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    notes: list[str] = []
    for d in parts:
        for key, value in d.metadata.items():
            if isinstance(value, dict) and isinstance(meta.get(key), dict):
                meta[key] = {**value, **meta[key]}
            else:
                meta.setdefault(key, value)
        for pattern, kind in d.kinds.items():
            kinds.setdefault(pattern, kind)
        notes.extend(d.notes)
    return meta, kinds, notes


def kind_of(rel: str, declared: dict[str, str]) -> str | None:
    """A declared kind (exact path, directory prefix or glob) wins over the built-in classification."""
    for pattern, kind in declared.items():
        if rel == pattern or rel.startswith(pattern.rstrip("/") + "/") or fnmatchcase(rel, pattern):
            return kind
    return _modelfile.classify(rel)


def weight_facts(root: Path, weights: list[str]) -> tuple[WeightFacts | None, list[str]]:
    """Facts for the model's weights: a sharded index when there is one, else the one format present
    (summed over safetensors files; GGUF and ONNX only when there is a single file)."""
    notes: list[str] = []
    index = [w for w in weights if w.endswith(".safetensors.index.json")]
    if index:
        return _safetensors.read_sharded(root / index[0]), notes
    by_format: dict[str, list[WeightFacts]] = {}
    for rel in weights:
        with open(root / rel, "rb") as f:
            found = facts_for(f, rel)
        if found is not None:
            by_format.setdefault(found.format, []).append(found)
    for fmt in ("safetensors", "gguf", "onnx"):
        group = by_format.get(fmt)
        if not group:
            continue
        if len(by_format) > 1:
            notes.append(f"weights in several formats ({', '.join(sorted(by_format))}); facts taken from {fmt}")
        if fmt == "safetensors":
            dtypes: dict[str, int] = {}
            for g in group:
                for k, v in g.dtypes.items():
                    dtypes[k] = dtypes.get(k, 0) + v
            return WeightFacts(fmt, parameters=sum(g.parameters or 0 for g in group), dtypes=dtypes), notes
        if len(group) == 1:
            return group[0], notes
        notes.append(f"{len(group)} {fmt} files (variants?); weight facts not taken, set them by hand")
        return None, notes
    return None, notes


def build(root: Path, name: str | None, formats: list[str], *, follow_external_symlinks: bool = False
          ) -> tuple[str, list[str], dict[str, Any], dict[str, str], list[str], dict[str, str]]:
    files = [f for f in _walk(root, follow_external_symlinks) if f != _modelfile.FILENAME
             and not _modelfile.skipped(f)]
    meta, declared, notes = merge(drafts(root, formats))
    kinds = {rel: k for rel in files if (k := kind_of(rel, declared)) is not None}
    found, fact_notes = weight_facts(root, [rel for rel, k in kinds.items() if k in ("weight", "weight.config")
                                            and (k == "weight" or rel.endswith(".safetensors.index.json"))])
    notes += fact_notes
    facts = {}
    for key, value in (found.metadata() if found else {}).items():
        if key not in meta:
            meta[key] = facts[key] = value
        elif str(meta[key]).lower() != value.lower():
            notes.append(f"{key}: the sources say {meta[key]!r}, the weight headers {value!r}; kept {meta[key]!r}")
    for rel, kind in kinds.items():
        if kind == "weight" and rel.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")):
            notes.append(f"{rel} may be a pickle (code runs when it is loaded): check it with `modelcrate scan`")
    default = "".join(c if c.isalnum() or c in "._-" else "-" for c in root.resolve().name.lower()) or "model"
    chosen = name or meta.pop("name", None) or default
    meta.pop("name", None)
    return chosen, files, valid_fields(meta, notes), kinds, notes, facts


def write(directory: str | os.PathLike[str], *, name: str | None = None, force: bool = False,
          formats: list[str] | None = None, follow_external_symlinks: bool = False) -> Written:
    """Write ``DIR/modelcrate.yaml`` from the sources found (or the ``formats`` asked for); refuse to
    overwrite unless ``force``. Symlinks out of the directory are refused as pack refuses them."""
    root = Path(directory)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    dest = root / _modelfile.FILENAME
    if dest.exists() and not force:
        raise AlreadyExists(f"{dest} exists", hint="use --force to overwrite it")
    found = detect(root)
    if formats is not None:
        missing = [f for f in formats if f not in found]
        if missing:
            raise UsageError(f"{root} holds no {', '.join(missing)} model "
                             f"(looked for {', '.join(SOURCE_FILES[f] for f in missing)})")
    use = formats if formats is not None else found
    chosen, files, meta, kinds, notes, facts = build(root, name, use,
                                                     follow_external_symlinks=follow_external_symlinks)
    text = _modelfile.scaffold(chosen, files, meta, kinds, tuple(f"note: {n}" for n in notes))
    _modelfile.parse(text, _modelfile.FILENAME)  # what we write must be what pack accepts
    atomic_write(dest, text.encode("utf-8"))
    return Written(dest, tuple(use), tuple(notes), facts)


def _walk(root: Path, follow_external_symlinks: bool = False) -> list[str]:
    from ..packing import walk  # the walk pack itself does, so init lists what pack sees

    return walk(root, follow_external_symlinks=follow_external_symlinks)
