"""ONNX: the ModelProto protobuf, read field by field with a bounded wire-format walker.

Only the fields facts need are decoded (IR version, opsets, producer, the graph's inputs, outputs and
initializer shapes); everything else, tensor data included, is skipped by seeking, so a multi-gigabyte
model costs a few reads. Every length is checked against the enclosing message before it is used.
"""

from __future__ import annotations

from collections import Counter
import math
from typing import Any, BinaryIO, Iterator

from ..errors import InvalidWeights
from . import WeightFacts, file_size, read_exact

MAX_DEPTH = 16
MAX_TEXT = 4096

ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
              9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64",
              15: "complex128", 16: "bfloat16", 17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2",
              20: "float8e5m2fnuz", 21: "uint4", 22: "int4"}


class _Wire:
    def __init__(self, f: BinaryIO, name: str) -> None:
        self.f, self.name = f, name

    def varint(self, end: int) -> int:
        shift = value = 0
        while True:
            if self.f.tell() >= end or shift > 63:
                raise InvalidWeights(f"{self.name}: malformed protobuf varint")
            byte = self.f.read(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    def fields(self, end: int) -> Iterator[tuple[int, int, int]]:
        """(field number, wire type, value or length) for each field up to ``end``; the caller reads or
        skips length-delimited payloads (their start is the current position)."""
        while self.f.tell() < end:
            key = self.varint(end)
            number, wtype = key >> 3, key & 7
            if wtype == 0:
                yield number, 0, self.varint(end)
            elif wtype == 2:
                n = self.varint(end)
                if n > end - self.f.tell():
                    raise InvalidWeights(f"{self.name}: protobuf field {number} claims {n} bytes past its message")
                start = self.f.tell()
                yield number, 2, n
                self.f.seek(start + n)  # whatever the caller read, continue after the payload
            elif wtype in (1, 5):
                self.f.seek(8 if wtype == 1 else 4, 1)
            else:
                raise InvalidWeights(f"{self.name}: protobuf wire type {wtype} is not valid in ONNX")

    def text(self, n: int) -> str:
        return read_exact(self.f, min(n, MAX_TEXT), self.name, "ONNX string").decode("utf-8", "replace")


def read(f: BinaryIO, name: str) -> WeightFacts:
    w = _Wire(f, name)
    end = file_size(f)
    f.seek(0)
    info: dict[str, Any] = {"opsets": {}}
    dtypes: Counter[str] = Counter()
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    initializers: set[str] = set()
    saw_graph = False
    for number, wtype, value in w.fields(end):
        if number == 1 and wtype == 0:
            info["ir_version"] = value
        elif number in (2, 3) and wtype == 2:
            info["producer_name" if number == 2 else "producer_version"] = w.text(value)
        elif number == 8 and wtype == 2:
            domain, version = _opset(w, f.tell() + value)
            info["opsets"][domain or "ai.onnx"] = version
        elif number == 7 and wtype == 2:
            saw_graph = True
            _graph(w, f.tell() + value, dtypes, inputs, outputs, initializers)
    if "ir_version" not in info or not saw_graph:
        raise InvalidWeights(f"{name}: not an ONNX model (no IR version or graph)")
    params = sum(dtypes.values())
    return WeightFacts("onnx", parameters=params or None, tensors=len(initializers), dtypes=dict(dtypes),
                       extra={**info, "inputs": [i for i in inputs if i["name"] not in initializers],
                              "outputs": outputs})


def _opset(w: _Wire, end: int) -> tuple[str, int]:
    domain, version = "", 0
    for number, wtype, value in w.fields(end):
        if number == 1 and wtype == 2:
            domain = w.text(value)
        elif number == 2 and wtype == 0:
            version = value
    return domain, version


def _graph(w: _Wire, end: int, dtypes: Counter[str], inputs: list[dict[str, Any]],
           outputs: list[dict[str, Any]], initializers: set[str]) -> None:
    for number, wtype, value in w.fields(end):
        if wtype != 2:
            continue
        if number == 5:
            name, dims, dtype = _tensor(w, w.f.tell() + value)
            initializers.add(name)
            dtypes[ELEM_TYPES.get(dtype, str(dtype))] += math.prod(dims)
        elif number in (11, 12):
            (inputs if number == 11 else outputs).append(_value_info(w, w.f.tell() + value))


def _tensor(w: _Wire, end: int) -> tuple[str, list[int], int]:
    name, dims, dtype = "", [], 0
    for number, wtype, value in w.fields(end):
        if number == 1 and wtype == 0:
            dims.append(value)
        elif number == 1 and wtype == 2:  # packed dims
            stop = w.f.tell() + value
            while w.f.tell() < stop:
                dims.append(w.varint(stop))
        elif number == 2 and wtype == 0:
            dtype = value
        elif number == 8 and wtype == 2:
            name = w.text(value)
    return name, dims, dtype


def _value_info(w: _Wire, end: int) -> dict[str, Any]:
    out: dict[str, Any] = {"name": ""}
    for number, wtype, value in w.fields(end):
        if number == 1 and wtype == 2:
            out["name"] = w.text(value)
        elif number == 2 and wtype == 2:
            out.update(_type(w, w.f.tell() + value))
    return out


def _type(w: _Wire, end: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, wtype, value in w.fields(end):
        if number == 1 and wtype == 2:  # tensor_type
            for n2, t2, v2 in w.fields(w.f.tell() + value):
                if n2 == 1 and t2 == 0:
                    out["dtype"] = ELEM_TYPES.get(v2, str(v2))
                elif n2 == 2 and t2 == 2:
                    out["shape"] = _shape(w, w.f.tell() + v2)
    return out


def _shape(w: _Wire, end: int) -> list[int | str]:
    dims: list[int | str] = []
    for number, wtype, value in w.fields(end):
        if number == 1 and wtype == 2:
            dim: int | str = "?"
            for n2, t2, v2 in w.fields(w.f.tell() + value):
                if n2 == 1 and t2 == 0:
                    dim = v2
                elif n2 == 2 and t2 == 2:
                    dim = w.text(v2)
            dims.append(dim)
    return dims
