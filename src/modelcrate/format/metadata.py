"""The metadata document: lineage, datasets, training parameters, metrics and intended use.

Stored as canonical JSON in the manifest annotation ``dev.modelcrate.metadata`` so a single manifest fetch
returns it and the manifest digest (and any signature over it) covers it. Schema: spec/metadata.schema.json.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidMetadata
from . import canonical, schemas, untrusted_json
from .mediatypes import MAX_METADATA_BYTES

SCHEMA_ID = "https://modelcrate.dev/spec/metadata/v1.schema.json"
SCHEMA_FILE = "metadata.schema.json"


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """Return ``doc`` if it satisfies the schema and the size cap, else raise :class:`InvalidMetadata`."""
    problems = schemas.errors(SCHEMA_FILE, doc)
    if problems:
        raise InvalidMetadata(f"metadata is invalid: {problems[0]}"
                              + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    encode(doc)
    return doc


def encode(doc: dict[str, Any]) -> str:
    """Canonical JSON text of the document, checked against the size cap."""
    try:
        raw = canonical.dumps(doc)
    except ValueError as exc:  # NaN or Infinity: JSON cannot carry them
        raise InvalidMetadata(f"metadata holds a value JSON cannot represent: {exc}") from None
    if len(raw) > MAX_METADATA_BYTES:
        raise InvalidMetadata(
            f"metadata is {len(raw)} bytes as canonical JSON, over the {MAX_METADATA_BYTES}-byte cap",
            hint="move large tables (full training logs, per-class metrics) into a file of the model",
        )
    return raw.decode("utf-8")


def decode(text: str | None) -> dict[str, Any] | None:
    """Parse the annotation text from an untrusted manifest. None when absent, oversized, of another
    schema version, or invalid: readers use only documents they fully understand."""
    if not text or len(text.encode("utf-8")) > MAX_METADATA_BYTES:
        return None
    try:
        value = untrusted_json.loads(text, max_bytes=MAX_METADATA_BYTES, what="metadata")
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or value.get("schema") != SCHEMA_ID or schemas.errors(SCHEMA_FILE, value):
        return None
    return value
