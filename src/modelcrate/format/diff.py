"""What changed between two models (pure): metadata field by field, files by digest, metrics with deltas.

Works on two :class:`~modelcrate.format.model.ModelView` values, so nothing but the two manifests is
needed: weights are compared by their layer digests, never downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import ModelView

# Shown as metrics below, not as a metadata change.
_METADATA_SKIP = frozenset({"metrics", "schema"})


@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted, with [i] for list items: lineage.datasets[0].uri
    old: Any
    new: Any

    @property
    def kind(self) -> str:
        return "added" if self.old is None else "removed" if self.new is None else "changed"


@dataclass(frozen=True)
class FileChange:
    path: str
    kind: str  # added removed changed
    old_digest: str | None = None
    new_digest: str | None = None
    old_size: int | None = None
    new_size: int | None = None

    @property
    def size_delta(self) -> int:
        return (self.new_size or 0) - (self.old_size or 0)


@dataclass(frozen=True)
class MetricChange:
    name: str  # name, or name@dataset/split when a model reports it more than once
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        if isinstance(self.old, (int, float)) and isinstance(self.new, (int, float)):
            return round(self.new - self.old, 12)
        return None


@dataclass(frozen=True)
class ModelDiff:
    old_digest: str
    new_digest: str
    metadata: tuple[FieldChange, ...]
    files: tuple[FileChange, ...]
    metrics: tuple[MetricChange, ...]
    unchanged_files: int
    size_delta: int
    extra: tuple[FieldChange, ...] = field(default=())  # stages, signatures: facts beside the manifests

    @property
    def identical(self) -> bool:
        return self.old_digest == self.new_digest

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old_digest, "new": self.new_digest, "identical": self.identical,
            "metadata": [{"path": c.path, "change": c.kind, "old": c.old, "new": c.new} for c in self.metadata],
            "files": [{"path": f.path, "change": f.kind, "oldDigest": f.old_digest, "newDigest": f.new_digest,
                       "oldSize": f.old_size, "newSize": f.new_size, "sizeDelta": f.size_delta} for f in self.files],
            "unchangedFiles": self.unchanged_files, "sizeDelta": self.size_delta,
            "metrics": [{"name": m.name, "old": m.old, "new": m.new, "delta": m.delta} for m in self.metrics],
            "other": [{"path": c.path, "change": c.kind, "old": c.old, "new": c.new} for c in self.extra],
        }


def field_changes(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Leaf-by-leaf differences of two JSON values; lists compare item by item."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[FieldChange] = []
        for key in sorted(set(old) | set(new)):
            out += field_changes(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list) and old != new:
        out = []
        for i in range(max(len(old), len(new))):
            out += field_changes(old[i] if i < len(old) else None, new[i] if i < len(new) else None, f"{path}[{i}]")
        return out
    if old == new:
        return []
    return [FieldChange(path, old, new)]


def _metrics(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    listed = list((meta or {}).get("metrics") or [])
    counts: dict[str, int] = {}
    for m in listed:
        counts[m["name"]] = counts.get(m["name"], 0) + 1
    out: dict[str, Any] = {}
    for m in listed:
        key = m["name"]
        if counts[key] > 1:
            key += "@" + "/".join(str(m.get(k)) for k in ("dataset", "split") if m.get(k))
        out.setdefault(key, m.get("value"))
    return out


def metric_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[MetricChange]:
    a, b = _metrics(old), _metrics(new)
    return [MetricChange(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def file_changes(old: ModelView, new: ModelView) -> tuple[list[FileChange], int]:
    a = {f.path: f.descriptor for f in old.files}
    b = {f.path: f.descriptor for f in new.files}
    out, same = [], 0
    for path in sorted(set(a) | set(b), key=lambda p: p.encode("utf-8")):
        x, y = a.get(path), b.get(path)
        if x is not None and y is not None and x.digest == y.digest:
            same += 1
            continue
        kind = "added" if x is None else "removed" if y is None else "changed"
        out.append(FileChange(path, kind, x.digest if x else None, y.digest if y else None,
                              x.size if x else None, y.size if y else None))
    return out, same


def diff(old: ModelView, new: ModelView, *, extra: Sequence[FieldChange] = ()) -> ModelDiff:
    """Everything that differs from ``old`` to ``new``."""
    meta_a = {k: v for k, v in (old.metadata or {}).items() if k not in _METADATA_SKIP}
    meta_b = {k: v for k, v in (new.metadata or {}).items() if k not in _METADATA_SKIP}
    files, same = file_changes(old, new)
    return ModelDiff(old.manifest.digest, new.manifest.digest, tuple(field_changes(meta_a, meta_b)),
                     tuple(files), tuple(metric_changes(old.metadata, new.metadata)), same,
                     new.total_size - old.total_size, tuple(extra))
