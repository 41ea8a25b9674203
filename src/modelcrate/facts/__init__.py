"""Facts read from weight-file headers, never from the weights themselves.

Each reader takes a binary file object (seekable) and the file's name for messages, reads only the header
with hard bounds, and raises :class:`~modelcrate.errors.InvalidWeights` naming the file when the header is
truncated or lies (a length past the end of the file, a count no file of this size could hold).
:func:`facts_for` picks the reader by content and returns the metadata fields it can fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO


@dataclass(frozen=True)
class WeightFacts:
    """What a header says. ``metadata()`` gives the modelcrate metadata fields it fills."""

    format: str
    parameters: int | None = None
    tensors: int | None = None
    dtypes: dict[str, int] = field(default_factory=dict)  # dtype -> parameter count
    architecture: str | None = None
    quantization: str | None = None
    precision: str | None = None
    context_length: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, str]:
        out = {"format": self.format}
        if self.parameters:
            out["paramSize"] = param_size(self.parameters)
        if self.architecture:
            out["architecture"] = self.architecture
        precision = self.precision or dominant(self.dtypes)
        if precision:
            out["precision"] = precision
        if self.quantization:
            out["quantization"] = self.quantization
        return out


def param_size(n: int) -> str:
    """ModelPack-style parameter count: ``param_size(7_241_732_096)`` → ``'7.24b'``."""
    for unit, scale in (("t", 10**12), ("b", 10**9), ("m", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def dominant(dtypes: dict[str, int]) -> str | None:
    """The dtype holding the most parameters."""
    return max(dtypes.items(), key=lambda kv: (kv[1], kv[0]))[0] if dtypes else None


def file_size(f: BinaryIO) -> int:
    pos = f.tell()
    end = f.seek(0, 2)
    f.seek(pos)
    return end


def read_exact(f: BinaryIO, n: int, name: str, what: str) -> bytes:
    """``n`` bytes or InvalidWeights; callers have already bounded ``n`` by the file size."""
    from ..errors import InvalidWeights

    data = f.read(n)
    if len(data) != n:
        raise InvalidWeights(f"{name}: truncated {what} (wanted {n} bytes, got {len(data)})")
    return data


def facts_for(f: BinaryIO, name: str) -> WeightFacts | None:
    """Facts from whichever header ``f`` holds (safetensors, GGUF, ONNX); None for other files."""
    from . import gguf, onnx, safetensors

    head = f.read(16)
    f.seek(0)
    # by content, or by name: a file named for a format that does not hold up is an error, not "no facts"
    if head[:4] == gguf.MAGIC or name.endswith(".gguf"):
        return gguf.read(f, name)
    if safetensors.looks_like(head) or name.endswith(".safetensors"):
        return safetensors.read(f, name)
    if name.endswith(".onnx"):
        return onnx.read(f, name)
    return None
