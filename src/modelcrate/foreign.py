"""Reading model artifacts other tools push: KitOps ModelKits and ModelPack artifacts without our metadata.

Pure: a manifest's bytes plus a function that returns a small blob (the config) become the same
:class:`~modelcrate.format.model.ModelView` our own artifacts give, so ``inspect``, ``unpack`` and ``pull -o``
treat them alike, with the same safety rules. A ModelKit's layers are tars (``+gzip``/``+zstd``) named by
their ``org.cncf.model.filepath`` annotation or, lacking one, by the Kitfile held in the config (``kit pack``
writes one layer per Kitfile entry, in the Kitfile's order). Metadata comes from the Kitfile, or from a
ModelPack config's ``descriptor`` and ``config`` when the manifest carries no modelcrate metadata.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .errors import InvalidManifest, InvalidMetadata
from .format import metadata as _metadata
from .format.descriptor import Descriptor, Manifest, parse_manifest
from .format.mediatypes import ANN_FILEPATH, ANN_METADATA, LEGACY_MODEL_CONFIG, MODEL_CONFIG
from .format.model import ModelFile, ModelView, read_model
from .importers import kitops
from .importers.common import spdx, strings, text, valid_fields

KITOPS_CONFIG = "application/vnd.kitops.modelkit.config.v1+json"
_KITOPS_LAYER = re.compile(r"^application/vnd\.kitops\.modelkit\.(\w+)\.v1\.tar(?:\+(gzip|zstd))?$")
KITOPS_KINDS = {"model": "weight", "modelpart": "weight", "code": "code", "dataset": "dataset", "docs": "doc",
                "prompts": "doc"}

LoadBlob = Callable[[Descriptor], bytes]


def read_any(raw: bytes, load_config: LoadBlob, *, metadata: bool = True) -> ModelView:
    """The model view of any model manifest modelcrate reads (without ``metadata``: files only, see
    :func:`modelcrate.format.model.read_model`; a ModelKit's Kitfile is read all the same, for its paths)."""
    m = parse_manifest(raw)
    if m.config.media_type == KITOPS_CONFIG:
        return read_modelkit(m, _json(load_config(m.config), "ModelKit config"))
    view = read_model(raw, metadata=metadata)
    if metadata and view.metadata is None and m.config.media_type in (MODEL_CONFIG, LEGACY_MODEL_CONFIG):
        return ModelView(view.manifest, view.files, from_modelpack_config(_json(load_config(m.config), "config")))
    return view


def kind(m: Manifest) -> str:
    """``modelcrate``, ``modelpack`` (another tool's, or legacy ``vnd.cnai``) or ``kitops``."""
    if m.config.media_type == KITOPS_CONFIG:
        return "kitops"
    return "modelcrate" if ANN_METADATA in m.annotations else "modelpack"


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidManifest(f"the {what} is not valid JSON") from None


def read_modelkit(m: Manifest, kitfile: Any) -> ModelView:
    named = kitops.entries(kitfile)
    seen: dict[str, int] = {}
    files = []
    for i, layer in enumerate(m.layers):
        match = _KITOPS_LAYER.fullmatch(layer.media_type)
        if match is None or match.group(1) not in KITOPS_KINDS:
            raise InvalidManifest(f"layer {i} has media type {layer.media_type!r}, not a ModelKit layer type")
        layer_type, compression = match.group(1), match.group(2)
        path = layer.annotation(ANN_FILEPATH) or _nth(named, layer_type, seen)
        files.append(ModelFile(path, KITOPS_KINDS[layer_type], "tar" + (f"+{compression}" if compression else ""),
                               layer, None))
    return ModelView(m, tuple(files), from_kitfile(kitfile))


def _nth(named: list[tuple[str, str]], layer_type: str, seen: dict[str, int]) -> str:
    """The Kitfile path of the next layer of this type, normalised; "" when the Kitfile does not say."""
    n = seen.get(layer_type, 0)
    seen[layer_type] = n + 1
    paths = [p for t, p in named if t == layer_type]
    if n >= len(paths):
        return ""
    return "/".join(part for part in paths[n].split("/") if part not in ("", "."))


def from_kitfile(kitfile: Any) -> dict[str, Any] | None:
    d = kitops.from_document(kitfile, "ModelKit config")
    return _document(d.metadata)


def from_modelpack_config(config: Any) -> dict[str, Any] | None:
    """Metadata from a ModelPack config written by another tool (modctl, KitOps, legacy drafts)."""
    if not isinstance(config, dict):
        return None
    desc = config.get("descriptor") if isinstance(config.get("descriptor"), dict) else {}
    cfg = config.get("config") if isinstance(config.get("config"), dict) else {}
    licenses = strings(desc.get("licenses"))
    meta: dict[str, Any] = {
        "name": text(desc.get("name"), 256), "version": text(desc.get("version"), 128),
        "description": text(desc.get("description")), "title": text(desc.get("title"), 256),
        "authors": strings(desc.get("authors")), "vendor": text(desc.get("vendor"), 256),
        "family": text(desc.get("family"), 256), "homepage": text(desc.get("docURL"), 2048),
        "license": spdx(licenses[0]) if licenses else None, "created": text(desc.get("createdAt"), 64),
    }
    for key in ("architecture", "format", "precision", "quantization"):
        meta[key] = text(cfg.get(key), 64)
    meta["paramSize"] = text(cfg.get("paramSize"), 32)
    return _document({k: v for k, v in meta.items() if v not in (None, "", [])})


def _document(fields: dict[str, Any]) -> dict[str, Any] | None:
    """A metadata document from mapped fields; None without a name (a version defaults to "unknown")."""
    name = fields.pop("name", None)
    if not name:
        return None
    version = fields.pop("version", None) or "unknown"
    doc = {"schema": _metadata.SCHEMA_ID, "name": name, "version": version, **valid_fields(fields, [])}
    try:
        return _metadata.validate(doc)
    except InvalidMetadata:
        return None
