"""An MLflow model directory: the ``MLmodel`` file.

Flavors give the framework and its version, ``run_id`` the training run (lineage), ``model_id`` (MLflow 3)
and ``model_uuid`` identify the logged model, ``signature`` and the saved input example describe the
interface, and the flavor's data path and environment files (``conda.yaml``, ``python_env.yaml``,
``requirements.txt``) get their layer kinds.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from .common import Draft, load_yaml, text

FILENAME = "MLmodel"
GENERIC = "python_function"
# flavor keys that name the model's file or directory inside the MLflow model directory
_DATA_KEYS = ("pickled_model", "data", "model_path", "model_data", "saved_model_dir", "model_file", "path")


def from_mlmodel(raw: bytes | str, source: str = FILENAME) -> Draft:
    d = Draft(source)
    doc = load_yaml(raw, source)
    if not isinstance(doc, dict):
        d.unmapped("not a YAML mapping; nothing taken")
        return d
    flavors = doc.get("flavors") if isinstance(doc.get("flavors"), dict) else {}
    specific = [f for f in flavors if f != GENERIC]
    framework = specific[0] if specific else (GENERIC if flavors else None)
    d.set("framework", framework)
    versions = {k: str(v) for f in flavors.values() if isinstance(f, dict)
                for k, v in f.items() if k.endswith("_version") and isinstance(v, (str, int, float))}
    mlflow: dict[str, Any] = {"flavors": sorted(flavors)}
    for key in ("mlflow_version", "model_uuid", "model_id", "artifact_path"):
        if text(doc.get(key)):
            mlflow[key] = text(doc.get(key), 512)
    if versions:
        mlflow["framework_versions"] = versions
    signature = _signature(d, doc.get("signature"))
    if signature:
        mlflow["signature"] = signature
    d.set("extra", {"mlflow": mlflow})
    d.lineage("training_run", text(doc.get("run_id"), 512))
    d.set("created", _created(doc.get("utc_time_created")))
    for name, flavor in flavors.items():
        if not isinstance(flavor, dict):
            continue
        for key in _DATA_KEYS:
            path = text(flavor.get(key), 1024)
            if path:
                d.kinds[path.strip("/")] = "weight"
        if flavor.get("serialization_format") in ("pickle", "cloudpickle") or flavor.get("pickled_model"):
            d.unmapped(f"flavor {name} stores a pickle: run `modelcrate scan` before serving it")
        env = flavor.get("env")
        for env_file in (env.values() if isinstance(env, dict) else [env]):
            if text(env_file):
                d.kinds[str(env_file)] = "code"
    example = doc.get("saved_input_example_info")
    if isinstance(example, dict) and text(example.get("artifact_path")):
        d.kinds[str(example["artifact_path"])] = "doc"
    d.kinds[FILENAME] = "weight.config"
    return d


def _signature(d: Draft, signature: Any) -> dict[str, Any] | None:
    if not isinstance(signature, dict):
        return None
    out = {}
    for part in ("inputs", "outputs", "params"):
        value = signature.get(part)
        if isinstance(value, str) and len(value) <= 64 * 1024:
            try:
                out[part] = json.loads(value)
            except (ValueError, RecursionError):
                d.unmapped(f"signature {part} is not valid JSON")
    return out or None


def _created(value: Any) -> str | None:
    """MLflow writes ``utc_time_created`` as ``2024-05-01 12:00:00.123456`` (UTC, no zone)."""
    if isinstance(value, _dt.datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = _dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
