"""The one parser for JSON that someone else wrote: manifests, indexes, bundles, envelopes, statements,
registry answers.

``json.loads`` alone is unsafe on such bytes in three ways this module closes, each with a one-line
error of the caller's chosen :class:`~modelcrate.errors.ModelcrateError` subclass:

* depth: CPython's decoder recurses per nesting level and raises ``RecursionError`` (exit 70) on a few
  thousand ``[``; code walking the result would recurse too. A linear pre-scan counts brackets outside
  strings before anything is decoded;
* numbers: a 100,000-digit integer costs quadratic time to convert (or raises ``ValueError`` past
  Python's digit limit), ``1e999`` becomes ``inf``; integers and fractions over :data:`MAX_NUMBER_CHARS`
  characters, ``NaN`` and ``Infinity`` are refused;
* meaning: a repeated key makes two parsers read two documents out of one signed byte string, so
  repeated keys are refused everywhere.

Input must be UTF-8 (RFC 8259 section 8.1) and at most ``max_bytes`` long. The exception raised is also a
``ValueError``, so a caller that treats any unparseable body alike ("not JSON") keeps one ``except``;
its :attr:`Rejected.reason` says which rule was broken.

>>> loads(b'{"a": [1, 2.5]}', max_bytes=100, max_depth=4, what="x")
{'a': [1, 2.5]}
>>> loads(b'[[[[1]]]]', max_bytes=100, max_depth=3, what="the index")
Traceback (most recent call last):
...
modelcrate.errors.InvalidManifest: the index is nested more than 3 levels deep
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from ..errors import InvalidManifest, ModelcrateError

MAX_DEPTH = 64  # deeper than any manifest, bundle or predicate we know (they stay under 15)
MAX_NUMBER_CHARS = 100  # digits, sign, point and exponent of one number

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


class Rejected(ValueError):
    """Mixed into every error this module raises; ``reason`` is one of size, encoding, depth, number,
    duplicate-key, syntax."""

    reason: str = "syntax"


_CLASSES: dict[type[ModelcrateError], type[ModelcrateError]] = {}


def _error(error: type[ModelcrateError], reason: str, message: str) -> ModelcrateError:
    cls = _CLASSES.get(error)
    if cls is None:
        cls = _CLASSES[error] = type(error.__name__, (error, Rejected), {"__module__": error.__module__})
    exc = cls(message)
    exc.reason = reason  # type: ignore[attr-defined]
    return exc


def depth(data: bytes) -> int:
    """The deepest bracket nesting of ``data`` outside JSON strings (linear time, no recursion).

    >>> depth(b'{"a": "[[[[", "b": [[1], {}]}')
    3
    """
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(accumulate(map(_STEP.__getitem__, brackets)))


def loads(data: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH, what: str,
          error: type[ModelcrateError] = InvalidManifest) -> Any:
    """Parse untrusted JSON ``data``; raise ``error`` (also a :class:`Rejected`) naming ``what``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise _error(error, "size", f"{what} is {len(raw)} bytes, over the {max_bytes}-byte limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(error, "encoding", f"{what} is not valid JSON: not UTF-8 (byte {exc.start})") from None
    if raw.count(b"[") + raw.count(b"{") > max_depth and depth(raw) > max_depth:
        raise _error(error, "depth", f"{what} is nested more than {max_depth} levels deep")

    def number(kind: str) -> Any:
        def convert(s: str) -> Any:
            if len(s) > MAX_NUMBER_CHARS:
                raise _error(error, "number", f"{what} holds a {len(s)}-character number")
            value = int(s) if kind == "int" else float(s)
            if kind == "float" and not math.isfinite(value):
                raise _error(error, "number", f"{what} holds a number out of range ({s[:40]})")
            return value
        return convert

    def constant(name: str) -> Any:
        raise _error(error, "number", f"{what} holds {name}, which JSON does not allow")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            key = next(k for k, _v in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise _error(error, "duplicate-key", f"{what} repeats the key {key[:100]!r}")
        return out

    try:
        return json.loads(text, parse_int=number("int"), parse_float=number("float"), parse_constant=constant,
                          object_pairs_hook=unique)
    except Rejected:
        raise
    except RecursionError:  # cannot happen after the pre-scan; kept so no input ever escapes as one
        raise _error(error, "depth", f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise _error(error, "syntax", f"{what} is not valid JSON: {str(exc)[:200]}") from None
