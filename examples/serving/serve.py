"""A small serving process: resolve a stage to a digest, pull that digest under a policy, load the model.

    python examples/serving/serve.py localhost:5000/team/sentiment production --policy policy.yaml

"Loading" reads the safetensors header (tensor names, dtypes, shapes) and nothing else: a model file is
untrusted input, so nothing from it is unpickled, imported or run.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
from pathlib import Path

import modelcrate

MAX_HEADER = 100 * 1024 * 1024  # safetensors caps its JSON header at 100 MB


def resolve_stage(repository: str, stage: str) -> str:
    """The digest the stage tag names right now; everything after this uses the digest."""
    return modelcrate.resolve(f"{repository}:{stage}").digest


def safetensors_header(path: Path) -> dict[str, dict[str, object]]:
    """Tensor name → {dtype, shape}, from the 8-byte length and the JSON header; no tensor data is read."""
    with path.open("rb") as f:
        prefix = f.read(8)
        if len(prefix) != 8:
            raise ValueError(f"{path.name} is too short to be safetensors")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_HEADER:
            raise ValueError(f"{path.name} declares a {length}-byte header")
        header = json.loads(f.read(length))
    if not isinstance(header, dict):
        raise ValueError(f"{path.name} has no safetensors header")
    return {k: {"dtype": v.get("dtype"), "shape": v.get("shape")} for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repository", help="REGISTRY/REPOSITORY")
    parser.add_argument("stage", help="the stage tag to serve, e.g. production")
    parser.add_argument("--policy", required=True, help="signature policy the model must satisfy")
    parser.add_argument("--dir", help="where to put the model (default: a temporary directory)")
    args = parser.parse_args()
    digest = resolve_stage(args.repository, args.stage)
    out = Path(args.dir or tempfile.mkdtemp(prefix="model-"))
    result = modelcrate.pull(f"{args.repository}@{digest}", out, policy=args.policy)
    tensors = {p.name: safetensors_header(p) for p in sorted(out.rglob("*.safetensors"))}
    json.dump({"digest": result.digest, "directory": str(out), "files": [p for p, _ in result.files],
               "tensors": tensors}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
