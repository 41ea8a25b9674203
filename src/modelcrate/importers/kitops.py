"""A KitOps ``Kitfile`` (YAML), or the same document as a ModelKit's JSON config.

``package`` gives name, version, description, authors and license; ``model`` the framework, its files and
parts (weights), ``code``, ``datasets``, ``docs`` and ``prompts`` the other layers' paths and kinds. Remote
(``http://``, ``s3://``) and out-of-context paths cannot be packed and are reported as not mapped.
"""

from __future__ import annotations

from typing import Any

from .common import Draft, load_yaml, spdx, strings, text

FILENAME = "Kitfile"
# Kitfile section (or ModelKit layer type) -> modelcrate layer kind
SECTION_KINDS = {"model": "weight", "modelpart": "weight", "code": "code", "datasets": "dataset",
                 "dataset": "dataset", "docs": "doc", "prompts": "doc"}


def from_kitfile(raw: bytes | str, source: str = FILENAME) -> Draft:
    return from_document(load_yaml(raw, source), source)


def from_document(doc: Any, source: str) -> Draft:
    """Map a parsed Kitfile (YAML or a ModelKit config's JSON)."""
    d = Draft(source)
    if not isinstance(doc, dict):
        d.unmapped("not a mapping; nothing taken")
        return d
    package = doc.get("package") if isinstance(doc.get("package"), dict) else {}
    model = doc.get("model") if isinstance(doc.get("model"), dict) else {}
    d.set("name", text(package.get("name"), 256) or text(model.get("name"), 256))
    d.set("version", text(package.get("version"), 128) or text(model.get("version"), 128))
    d.set("description", text(package.get("description")) or text(model.get("description")))
    d.set("authors", strings(package.get("authors")))
    license_ = package.get("license") or model.get("license")
    d.set("license", spdx(license_))
    if license_ and not spdx(license_):
        d.unmapped(f"license {str(license_)[:80]!r} is not an SPDX id")
    d.set("framework", text(model.get("framework"), 128))
    d.set("format", text(model.get("format"), 128))
    if model.get("parameters") is not None:
        d.set("extra", {"kitops_parameters": model["parameters"]})
    if model:
        _path(d, model.get("path"), "model")
    for part in model.get("parts") or []:
        if isinstance(part, dict):
            _path(d, part.get("path"), "modelpart")
    datasets = []
    for section in ("code", "datasets", "docs", "prompts"):
        for entry in doc.get(section) or []:
            if not isinstance(entry, dict):
                continue
            _path(d, entry.get("path"), section)
            if section == "datasets" and text(entry.get("name"), 512):
                datasets.append({"name": text(entry.get("name"), 512)})
    d.lineage("datasets", datasets)
    return d


def entries(doc: Any) -> list[tuple[str, str]]:
    """``(layer type, path)`` in the order ``kit pack`` writes layers: model, parts, code, datasets, docs,
    prompts (used to name the layers of a ModelKit whose layers carry no path annotation)."""
    if not isinstance(doc, dict):
        return []
    model = doc.get("model") if isinstance(doc.get("model"), dict) else {}
    out = [("model", str(model.get("path")))] if model.get("path") else []
    out += [("modelpart", str(p.get("path"))) for p in model.get("parts") or []
            if isinstance(p, dict) and p.get("path")]
    for section, layer in (("code", "code"), ("datasets", "dataset"), ("docs", "docs"), ("prompts", "prompts")):
        out += [(layer, str(e.get("path"))) for e in doc.get(section) or [] if isinstance(e, dict) and e.get("path")]
    return out


def _path(d: Draft, value: Any, section: str) -> None:
    path = text(value, 4096)
    if not path:
        return
    if "://" in path or path.startswith(("/", "..")) or "/../" in f"/{path}/":
        d.unmapped(f"{section} path {path[:200]!r} is remote or outside the directory; not packed")
        return
    clean = "/".join(p for p in path.split("/") if p not in ("", "."))
    if clean:
        d.kinds[clean] = SECTION_KINDS[section]
