"""Load model.safetensors with the standard library and score one input vector."""

import json
import struct
import sys
from pathlib import Path


def load(path: Path) -> dict[str, list[float]]:
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    body = raw[8 + size:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = list(struct.unpack(f"<{(end - start) // 4}f", body[start:end]))
    return out


def main() -> None:
    w = load(Path(__file__).with_name("model.safetensors"))
    x = [1.0] * 32
    hidden = [max(0.0, sum(w["fc1.weight"][i * 32 + j] * x[j] for j in range(32)) + w["fc1.bias"][i]) for i in range(16)]
    logits = [sum(w["fc2.weight"][i * 16 + j] * hidden[j] for j in range(16)) + w["fc2.bias"][i] for i in range(2)]
    json.dump({"logits": logits}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
