"""What every importer returns, and the one bounded YAML reader they share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    import yaml

MAX_SOURCE_BYTES = 1024 * 1024
_MAX_NODES = 100_000
_LICENSE = re.compile(r"^[A-Za-z0-9.+:()\- ]+$")

# Hugging Face and KitOps write lower-case license ids; metadata wants SPDX spelling.
_SPDX = {"apache-2.0": "Apache-2.0", "mit": "MIT", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause",
         "gpl-2.0": "GPL-2.0", "gpl-3.0": "GPL-3.0", "lgpl-3.0": "LGPL-3.0", "agpl-3.0": "AGPL-3.0",
         "mpl-2.0": "MPL-2.0", "cc-by-4.0": "CC-BY-4.0", "cc-by-sa-4.0": "CC-BY-SA-4.0",
         "cc-by-nc-4.0": "CC-BY-NC-4.0", "cc-by-nc-sa-4.0": "CC-BY-NC-SA-4.0", "cc0-1.0": "CC0-1.0",
         "openrail": "OpenRAIL", "bigscience-openrail-m": "BigScience-OpenRAIL-M", "unlicense": "Unlicense",
         "artistic-2.0": "Artistic-2.0", "bsl-1.0": "BSL-1.0", "wtfpl": "WTFPL", "afl-3.0": "AFL-3.0",
         "ecl-2.0": "ECL-2.0", "epl-2.0": "EPL-2.0", "isc": "ISC", "zlib": "Zlib"}


@dataclass
class Draft:
    """Metadata fields, per-path kinds and what could not be mapped, from one source file."""

    source: str  # the file it came from, for messages
    metadata: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # path or glob -> layer kind
    notes: list[str] = field(default_factory=list)

    def set(self, key: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            self.metadata[key] = value

    def lineage(self, key: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            self.metadata.setdefault("lineage", {})[key] = value

    def unmapped(self, what: str) -> None:
        self.notes.append(f"{self.source}: {what}")


def load_yaml(text: bytes | str, source: str) -> Any:
    """Parse untrusted YAML with the safe loader, refusing oversized input and alias expansion bombs."""
    import yaml  # here, not at the top: reading a ModelKit's JSON config (pull, inspect) needs no YAML

    if len(text) > MAX_SOURCE_BYTES:
        raise UsageError(f"{source}: larger than {MAX_SOURCE_BYTES} bytes")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _count(node, [0], source)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise UsageError(f"{source}: {where}not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise UsageError(f"{source}: nested too deeply") from None


def _count(node: yaml.Node, seen: list[int], source: str) -> None:
    seen[0] += 1
    if seen[0] > _MAX_NODES:
        raise UsageError(f"{source}: more than {_MAX_NODES} values (alias expansion?)")
    if isinstance(node.value, list):  # a mapping's (key, value) pairs or a sequence's items; a scalar: text
        for item in node.value:
            for child in item if isinstance(item, tuple) else (item,):
                _count(child, seen, source)


def text(value: Any, limit: int = 8192) -> str | None:
    """A string field's value, or None when it is not a string (or a number, written as text)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    return value[:limit] if isinstance(value, str) and value.strip() else None


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    return [v[:512] for v in value if isinstance(v, str) and v][:256] if isinstance(value, list) else []


def spdx(value: Any) -> str | None:
    """A license id in SPDX spelling, or None when it is not one metadata can carry."""
    name = text(value, 256)
    if not name or name.lower() in ("other", "unknown", "none"):
        return None
    name = _SPDX.get(name.lower(), name)
    return name if _LICENSE.fullmatch(name) else None


def valid_fields(meta: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Drop (and note) any field whose mapped value the metadata schema refuses, so one odd value in a
    source file never stops the rest from being used."""
    from ..format import metadata as _metadata, schemas

    out = {}
    for key, value in meta.items():
        doc = {"schema": _metadata.SCHEMA_ID, "name": "x", "version": "0", key: value}
        problems = schemas.errors(_metadata.SCHEMA_FILE, doc)
        if problems:
            notes.append(f"{key}: {str(problems[0])[:200]} (left out)")
        else:
            out[key] = value
    return out
