"""``report REF``: gather once, render as HTML, Markdown or JSON, and optionally write the evidence bundle."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..format.reference import Reference
from ..lifecycle.api import DEFAULT_CONTEXT, Context, opened, stages_of
from ..lifecycle.gate import Gate, NoPolicy
from ..signatures import Verifier
from ..targets import resolve as resolve_checked
from ..tracking.versions import readers
from . import html, markdown
from .bundle import write_bundle
from .evidence import gather_report

FORMATS = ("html", "markdown", "json")
SCHEMA_FILE = "report.schema.json"


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The report document's JSON Schema (the same file as spec/report.schema.json)."""
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8"))


def build(ref: str, *, gate: Gate | None = None, verifier: Verifier | None = None, ctx: Context = DEFAULT_CONTEXT,
          bundle: str | Path | None = None) -> dict[str, Any]:
    """The report document for the model at ``ref``; with ``bundle``, also write its evidence there."""
    gate = gate or NoPolicy()
    trusted = readers(gate, verifier)
    r = Reference.parse(ref).or_latest()
    with opened(r, ctx, push=False) as target:
        desc = resolve_checked(target, r)
        doc = gather_report(target, desc, r.name, ref, gate=gate, verifier=trusted, reader=verifier, ctx=ctx,
                            generated=ctx.time())
        if bundle is not None:
            write_bundle(target, desc, r.repository, stages_of(target, gate), Path(bundle), r.tag)
    if bundle is not None:
        (Path(bundle) / "report.json").write_text(render(doc, "json"), encoding="utf-8")
    return doc


def render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "html":
        return html.render(doc)
    if fmt == "markdown":
        return markdown.render(doc)
    if fmt == "json":
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    raise UsageError(f"format must be one of {', '.join(FORMATS)}")
