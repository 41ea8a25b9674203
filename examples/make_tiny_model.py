"""Write examples/tiny-classifier/model.safetensors: a 2-layer MLP with deterministic weights.

The safetensors layout is an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range, then the raw little-endian data. Weights come from a fixed-seed generator,
so the file (and so the packed digest) is identical on every machine.

    python examples/make_tiny_model.py
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

TENSORS = {"fc1.weight": (16, 32), "fc1.bias": (16,), "fc2.weight": (2, 16), "fc2.bias": (2,)}


def build() -> bytes:
    rng = random.Random(20241123)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    data = bytearray()
    for name, shape in TENSORS.items():
        count = 1
        for dim in shape:
            count *= dim
        values = [round(rng.uniform(-0.5, 0.5), 6) for _ in range(count)]
        start = len(data)
        data += struct.pack(f"<{count}f", *values)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [start, len(data)]}
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    head += b" " * (-len(head) % 8)  # the format pads the header to 8-byte alignment with spaces
    return struct.pack("<Q", len(head)) + head + bytes(data)


def main() -> None:
    out = Path(__file__).resolve().parent / "tiny-classifier" / "model.safetensors"
    out.write_bytes(build())
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
