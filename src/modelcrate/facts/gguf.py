"""GGUF: magic, version, tensor and key/value counts, the key/values, then the tensor infos.

Counts and lengths come from the file, so each is checked against the bytes left before it is used: a
count of 2^40 in a small file is refused at once rather than looped over or allocated. Array values
(tokenizer vocabularies) are skipped, never materialised. Parameter count is the sum of the tensor infos'
element counts; the quantization name comes from ``general.file_type`` as llama.cpp numbers it.
"""

from __future__ import annotations

import math
import struct
from typing import Any, BinaryIO

from ..errors import InvalidWeights
from . import WeightFacts, file_size, read_exact

MAGIC = b"GGUF"
MAX_STRING = 1 << 20  # keys and string values we keep; longer strings are skipped
MAX_DIMS = 8

# value type -> struct format for scalars (8 is string, 9 is array)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

# llama.cpp's llama_ftype numbering (general.file_type)
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0",
}
_UNQUANTIZED = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


class _Reader:
    def __init__(self, f: BinaryIO, name: str) -> None:
        self.f, self.name = f, name
        self.size = file_size(f)

    def left(self) -> int:
        return self.size - self.f.tell()

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, read_exact(self.f, struct.calcsize(fmt), self.name, what))[0]

    def count(self, what: str, min_item: int) -> int:
        n = self.unpack("<Q", what)
        if n * min_item > self.left():
            raise InvalidWeights(f"{self.name}: GGUF {what} is {n}, more than the {self.left()} bytes left could hold")
        return n

    def string(self, what: str) -> str | None:
        n = self.count(f"{what} length", 1)
        if n > MAX_STRING:
            self.f.seek(n, 1)
            return None
        return read_exact(self.f, n, self.name, what).decode("utf-8", "replace")

    def value(self, vtype: int, what: str) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype], what)
        if vtype == 8:
            return self.string(what)
        if vtype == 9:
            item = self.unpack("<I", f"{what} item type")
            if item in _SCALARS:
                n = self.count(f"{what} array length", struct.calcsize(_SCALARS[item]))
                self.f.seek(n * struct.calcsize(_SCALARS[item]), 1)
            elif item == 8:
                for _ in range(self.count(f"{what} array length", 8)):
                    self.string(what)
            else:  # nested arrays carry no fact we read, and bound nothing: refuse
                raise InvalidWeights(f"{self.name}: GGUF {what} is an array of type {item}, which is not supported")
            return None
        raise InvalidWeights(f"{self.name}: GGUF {what} has unknown value type {vtype}")


def read(f: BinaryIO, name: str) -> WeightFacts:
    r = _Reader(f, name)
    f.seek(0)
    if read_exact(f, 4, name, "GGUF magic") != MAGIC:
        raise InvalidWeights(f"{name}: not a GGUF file")
    version = r.unpack("<I", "version")
    if version not in (2, 3):
        raise InvalidWeights(f"{name}: GGUF version {version} is not supported (2 and 3 are)")
    n_tensors = r.unpack("<Q", "tensor count")
    n_kv = r.count("key/value count", 13)  # a key length, a type and a one-byte value at least
    if n_tensors * 24 > r.left():
        raise InvalidWeights(f"{name}: GGUF tensor count is {n_tensors}, more than the file could hold")
    kv: dict[str, Any] = {}
    for i in range(n_kv):
        key = r.string(f"key {i}")
        value = r.value(r.unpack("<I", f"type of key {i}"), f"value of {key or i}")
        if key is not None and value is not None:
            kv[key] = value
    params = 0
    for i in range(n_tensors):
        r.string(f"tensor {i} name")
        dims = r.unpack("<I", f"tensor {i} dimension count")
        if dims > MAX_DIMS:
            raise InvalidWeights(f"{name}: GGUF tensor {i} has {dims} dimensions (at most {MAX_DIMS})")
        params += math.prod(r.unpack("<Q", f"tensor {i} shape") for _ in range(dims))
        r.unpack("<I", f"tensor {i} type")
        r.unpack("<Q", f"tensor {i} offset")
    arch = kv.get("general.architecture") if isinstance(kv.get("general.architecture"), str) else None
    ftype = FILE_TYPES.get(kv["general.file_type"]) if isinstance(kv.get("general.file_type"), int) else None
    ctx = kv.get(f"{arch}.context_length") if arch else None
    return WeightFacts(
        "gguf", parameters=params or None, tensors=n_tensors, architecture=arch,
        quantization=ftype.lower() if ftype and ftype not in _UNQUANTIZED else None,
        precision=_UNQUANTIZED.get(ftype or ""), context_length=ctx if isinstance(ctx, int) else None,
        extra={"version": version, "file_type": ftype} if ftype else {"version": version})
