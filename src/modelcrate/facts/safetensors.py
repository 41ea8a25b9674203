"""safetensors: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.

Only the header is read. Its length is bounded by the format's own cap (100 MB) and by the file size, and
every tensor's ``data_offsets`` must lie inside the file, so a lying header is one error, not an allocation.
Sharded checkpoints name their shards in ``*.safetensors.index.json`` (``weight_map``); :func:`read_sharded`
adds the shards' headers up.
"""

from __future__ import annotations

import json
import math
import struct
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InvalidWeights
from . import WeightFacts, file_size, read_exact

MAX_HEADER = 100 * 1000 * 1000  # the limit the safetensors reference implementation enforces
MAX_INDEX = 64 * 1024 * 1024

# safetensors dtype names -> the precision names metadata uses
PRECISION = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "F8_E4M3": "float8_e4m3",
             "F8_E5M2": "float8_e5m2", "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
             "BOOL": "bool", "U16": "uint16", "U32": "uint32", "U64": "uint64", "F4": "float4", "F6_E2M3": "float6",
             "F6_E3M2": "float6", "F8_E8M0": "float8_e8m0", "C64": "complex64"}


def looks_like(head: bytes) -> bool:
    """A safetensors header starts with a plausible length and ``{``."""
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= MAX_HEADER and head[8:9] == b"{"


def header(f: BinaryIO, name: str) -> dict[str, Any]:
    """The parsed, checked JSON header of one safetensors file."""
    size = file_size(f)
    f.seek(0)
    (n,) = struct.unpack("<Q", read_exact(f, 8, name, "safetensors length prefix"))
    if n > MAX_HEADER or n > size - 8:
        raise InvalidWeights(f"{name}: safetensors header claims {n} bytes, but the file holds {size - 8} "
                             f"after the length (limit {MAX_HEADER})")
    try:
        doc = json.loads(read_exact(f, n, name, "safetensors header"))
    except (ValueError, RecursionError):
        raise InvalidWeights(f"{name}: the safetensors header is not valid JSON") from None
    if not isinstance(doc, dict):
        raise InvalidWeights(f"{name}: the safetensors header is not a JSON object")
    data_size = size - 8 - n
    for key, entry in doc.items():
        if key == "__metadata__":
            continue
        _check_entry(name, key, entry, data_size)
    return doc


def _check_entry(name: str, key: str, entry: Any, data_size: int) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
        raise InvalidWeights(f"{name}: tensor {key[:80]!r} has no dtype")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidWeights(f"{name}: tensor {key[:80]!r} has an invalid shape")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size):
        raise InvalidWeights(f"{name}: tensor {key[:80]!r} has data offsets outside the file")


def _add(doc: dict[str, Any], dtypes: Counter[str]) -> int:
    count = 0
    for key, entry in doc.items():
        if key != "__metadata__":
            dtypes[PRECISION.get(entry["dtype"], entry["dtype"].lower())] += math.prod(entry["shape"])
            count += 1
    return count


def read(f: BinaryIO, name: str) -> WeightFacts:
    doc = header(f, name)
    dtypes: Counter[str] = Counter()
    tensors = _add(doc, dtypes)
    return WeightFacts("safetensors", parameters=sum(dtypes.values()), tensors=tensors, dtypes=dict(dtypes))


def read_sharded(index_path: Path) -> WeightFacts:
    """Facts across the shards an index names (each shard's header read once; shards must sit beside it)."""
    name = index_path.name
    if index_path.stat().st_size > MAX_INDEX:
        raise InvalidWeights(f"{name}: larger than {MAX_INDEX} bytes")
    try:
        index = json.loads(index_path.read_bytes())
    except (ValueError, RecursionError):
        raise InvalidWeights(f"{name}: not valid JSON") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise InvalidWeights(f"{name}: no weight_map of tensor names to shard files")
    dtypes: Counter[str] = Counter()
    tensors = 0
    for shard in sorted(set(weight_map.values())):
        if "/" in shard or "\\" in shard or shard in ("", ".", ".."):
            raise InvalidWeights(f"{name}: shard {shard[:80]!r} is not a file beside the index")
        path = index_path.parent / shard
        if not path.is_file():
            raise InvalidWeights(f"{name}: names the shard {shard!r}, which is missing")
        with open(path, "rb") as f:
            tensors += _add(header(f, shard), dtypes)
    return WeightFacts("safetensors", parameters=sum(dtypes.values()), tensors=tensors, dtypes=dict(dtypes),
                       extra={"shards": len(set(weight_map.values()))})
