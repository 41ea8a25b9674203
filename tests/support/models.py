"""Generate many small but real modelcrate model artifacts quickly (search tests and benchmarks).

Each model is a genuine profile manifest (ModelPack config, metadata annotation validated against the
schema) over tiny blobs, pushed straight into any Target.
"""

from __future__ import annotations

import io
from typing import Any

from modelcrate.format import metadata as _metadata
from modelcrate.format.descriptor import Descriptor
from modelcrate.format.mediatypes import MODEL_CONFIG, OCI_MANIFEST, layer_media_type
from modelcrate.format.model import build_config, build_model_manifest, layer_descriptor

LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "mit", "GPL-3.0-only")
FRAMEWORKS = ("pytorch", "transformers", "onnxruntime", "llama.cpp")
TASKS = ("text-classification", "text-generation", "image-classification")


def metadata(i: int, **overrides: Any) -> dict[str, Any]:
    """A valid metadata document for model number ``i``; fields vary with ``i`` so filters split them."""
    doc: dict[str, Any] = {
        "schema": _metadata.SCHEMA_ID, "name": f"model-{i:04d}", "version": f"1.{i % 7}.0",
        "description": f"Generated model number {i} for {'sentiment' if i % 2 else 'topic'} analysis",
        "license": LICENSES[i % len(LICENSES)], "framework": FRAMEWORKS[i % len(FRAMEWORKS)],
        "format": "safetensors" if i % 3 else "gguf", "pipeline_tag": TASKS[i % len(TASKS)],
        "authors": [f"author-{i % 4}"], "owners": [f"team-{i % 5}"], "tags": ["generated", f"batch-{i % 10}"],
        "created": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z",
        "metrics": [{"name": "accuracy", "value": round(0.5 + (i % 50) / 100, 3)},
                    {"name": "f1", "value": round(0.4 + (i % 40) / 100, 3)}],
        "lineage": {"datasets": [{"name": f"data-{i % 3}", "uri": f"https://example.com/data-{i % 3}.parquet",
                                  "digest": "sha256:" + f"{i % 3:064x}"}]},
    }
    doc.update(overrides)
    return _metadata.validate(doc)


def push_model(target: Any, meta: dict[str, Any], tags: list[str], files: dict[str, bytes] | None = None
               ) -> Descriptor:
    """Push a model with ``files`` (default: one tiny weight file) and ``meta``; tag it with each tag."""
    files = files if files is not None else {"model.safetensors": meta["name"].encode()}
    layers = []
    for path, data in files.items():
        blob = Descriptor.of(layer_media_type("weight"), data)
        target.push(blob, io.BytesIO(data))
        layers.append(layer_descriptor("weight", "raw", path, blob.digest, len(data), 0o644))
    config = build_config(meta, [layer.digest for layer in layers])
    config_desc = Descriptor.of(MODEL_CONFIG, config)
    target.push(config_desc, io.BytesIO(config))
    raw = build_model_manifest(config_desc, layers, meta)
    desc = Descriptor.of(OCI_MANIFEST, raw)
    target.push(desc, io.BytesIO(raw))
    for tag in tags:
        target.tag(desc, tag)
    return desc
