"""A modctl ``Modelfile``: Dockerfile-like lines ``DIRECTIVE value``, ``#`` comments.

Metadata directives (NAME, ARCH, FAMILY, FORMAT, PARAMSIZE, PRECISION, QUANTIZATION) map to the metadata
fields of the same meaning; file directives (CONFIG, MODEL, CODE, DATASET, DOC) give globs and their kinds.
Early modctl versions wrote regular expressions such as ``\\.safetensors$``; the simple suffix form is turned
into the glob ``*.safetensors``, anything else is reported as not mapped.
"""

from __future__ import annotations

import re

from .common import Draft

FILENAME = "Modelfile"
FIELDS = {"NAME": "name", "ARCH": "architecture", "FAMILY": "family", "FORMAT": "format", "PARAMSIZE": "paramSize",
          "PRECISION": "precision", "QUANTIZATION": "quantization"}
FILE_KINDS = {"CONFIG": "weight.config", "MODEL": "weight", "CODE": "code", "DATASET": "dataset", "DOC": "doc"}
_SUFFIX_REGEX = re.compile(r"^\\?\.([A-Za-z0-9_.-]+)\$$")
MAX_BYTES = 1024 * 1024


def from_modelfile(raw: bytes | str, source: str = FILENAME) -> Draft:
    d = Draft(source)
    if len(raw) > MAX_BYTES:
        d.unmapped(f"larger than {MAX_BYTES} bytes; not read")
        return d
    content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    for number, line in enumerate(content.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        directive, _, value = line.partition(" ")
        directive, value = directive.upper(), value.strip()
        if not value:
            d.unmapped(f"line {number}: {directive} has no value")
        elif directive in FIELDS:
            d.set(FIELDS[directive], value[:256])
        elif directive in FILE_KINDS:
            _pattern(d, number, value, FILE_KINDS[directive])
        else:
            d.unmapped(f"line {number}: unknown directive {directive[:40]!r}")
    return d


def _pattern(d: Draft, number: int, value: str, kind: str) -> None:
    suffix = _SUFFIX_REGEX.fullmatch(value)
    if suffix:
        value = f"*.{suffix.group(1)}"
    elif any(c in value for c in "$^\\+()|{}"):
        d.unmapped(f"line {number}: {value[:80]!r} looks like a regular expression; write it as a glob")
        return
    if value.startswith("/") or ".." in value.split("/"):
        d.unmapped(f"line {number}: {value[:80]!r} is outside the directory; not packed")
        return
    d.kinds.setdefault(value.lstrip("./") if value.startswith("./") else value, kind)
