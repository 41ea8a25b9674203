"""Load the JSON Schemas shipped in ``format/schemas/`` and validate documents against them."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """The parsed schema file ``name`` (e.g. ``metadata.schema.json``)."""
    return json.loads(resources.files(__package__).joinpath("schemas", name).read_text("utf-8"))


@lru_cache(maxsize=None)
def validator(name: str) -> "Draft202012Validator":
    from jsonschema import Draft202012Validator, FormatChecker  # imported on first use: it costs ~0.3 s

    # FormatChecker makes "date-time" binding (needs rfc3339-validator), as upstream ModelPack asserts it.
    return Draft202012Validator(load(name), format_checker=FormatChecker())


def errors(name: str, document: Any) -> list[str]:
    """Human-readable validation errors, each prefixed with the JSON path, most specific first."""
    out = []
    for err in sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in err.absolute_path) or "(document)"
        out.append(f"{where}: {err.message}")
    return out
