"""Canonical JSON: the one serialisation modelcrate writes.

Sorted keys, no insignificant whitespace, UTF-8, no NaN/Infinity. The same value always gives the same
bytes, so digests over documents modelcrate builds are reproducible across machines and Python versions.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> bytes:
    """Serialise ``value`` as canonical JSON bytes.

    >>> dumps({"b": 1, "a": [True, None]})
    b'{"a":[true,null],"b":1}'
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
