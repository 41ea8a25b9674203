"""A resolved model digest rendered for deployment tooling: plain, kustomize, Helm values (pure)."""

from __future__ import annotations

import json

from ..errors import UsageError
from .storage_initializer import SCHEME

FORMATS = ("plain", "kustomize", "helm")


def render_pin(name: str, digest: str, fmt: str, *, inference_service: str | None = None) -> str:
    """``name`` is ``REGISTRY/REPOSITORY``; the text pins it by ``digest``.

    - ``plain``: ``REGISTRY/REPOSITORY@sha256:…``
    - ``kustomize``: a JSON 6902 patch replacing the InferenceService's ``storageUri`` (for a
      ``patches:`` entry targeting ``kind: InferenceService``)
    - ``helm``: a values file with ``model.storageUri`` and ``model.digest``
    """
    pinned = f"{name}@{digest}"
    uri = f"{SCHEME}{pinned}"
    if fmt == "plain":
        return pinned
    if fmt == "kustomize":
        patch = [{"op": "replace", "path": "/spec/predictor/model/storageUri", "value": uri}]
        target = {"kind": "InferenceService", **({"name": inference_service} if inference_service else {})}
        lines = ["# kustomization.yaml: patches:", f"- target: {json.dumps(target)}", "  patch: |-"]
        lines += [f"    {line}" for line in json.dumps(patch, indent=2).splitlines()]
        return "\n".join(lines)
    if fmt == "helm":
        return f"model:\n  storageUri: {json.dumps(uri)}\n  digest: {json.dumps(digest)}"
    raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
