"""Searchable fields: what a model manifest says about itself, flattened for queries (pure).

Only the manifest is read (its metadata annotation and layer descriptors), never a blob. The fields
from the manifest are stored per digest; the fields that depend on where the manifest is tagged
(``repository``, ``stages``, ``deprecated``…) are added at query time (:meth:`.db.IndexDB.select`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ModelcrateError
from ..format.model import ModelView, read_model
from .expr import normalize_date

DEFAULT_STAGES = ("dev", "staging", "production")

# metadata keys copied as they are
_PLAIN = ("name", "version", "description", "title", "license", "framework", "format", "architecture",
          "paramSize", "precision", "quantization", "vendor", "family", "homepage", "created", "tags", "authors",
          "owners", "training_parameters", "extra", "lineage")


def manifest_fields(raw: bytes) -> dict[str, Any] | None:
    """The searchable fields of a manifest's bytes; None when it is not a model (indexes, signatures)."""
    try:
        view = read_model(raw)
    except ModelcrateError:
        return None
    return view_fields(view)


def view_fields(view: ModelView) -> dict[str, Any]:
    meta = view.metadata or {}
    out: dict[str, Any] = {k: meta[k] for k in _PLAIN if meta.get(k) not in (None, "", [], {})}
    created = normalize_date(meta.get("created"))
    if created:  # one spelling in UTC, so that dates compare and sort as text
        out["created"] = created
    if meta.get("pipeline_tag"):
        out["task"] = meta["pipeline_tag"]
    metrics: dict[str, Any] = {}
    for m in meta.get("metrics") or []:
        metrics.setdefault(m["name"], m["value"])  # the first one listed wins, as inspect shows it
    if metrics:
        out["metrics"] = metrics
    lineage = meta.get("lineage") or {}
    if lineage.get("base_model"):
        out["base_model"] = lineage["base_model"]
    datasets = [v for d in lineage.get("datasets") or [] for v in (d.get("uri"), d.get("digest"), d.get("name")) if v]
    if datasets:
        out["datasets"] = datasets
    out["size"] = view.total_size
    out["files"] = len(view.files)
    out["artifactType"] = view.manifest.artifact_type
    return out


def stages_of(tags: Iterable[str], stages: Iterable[str] = DEFAULT_STAGES) -> list[str]:
    """Stage tags are tags equal to a stage name (dev, staging, production by default)."""
    present = set(tags)
    return [s for s in stages if s in present]
