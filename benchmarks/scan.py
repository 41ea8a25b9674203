"""Benchmark: `modelcrate scan DIR` against picklescan and modelscan on the same checkpoints.

Generates a benign model directory (no torch needed): a zip-format PyTorch checkpoint with a state dict of
many tensors and large storage members, a legacy-format checkpoint with its storage bytes after the
pickles, a large plain pickle (millions of opcodes, the walker's worst case) and a safetensors file. Each
scanner runs as a child process over the same directory, alternating, best of N; prints seconds, the ratio
to picklescan, and peak RSS. Scanners that are not installed are left out.

    python benchmarks/scan.py                    # ~600 MiB of checkpoints, 3 rounds
    python benchmarks/scan.py --storage-mib 64 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _measure import Run, best, run  # noqa: E402

from tests.scan.corpus import fake_torch, state_dict, torch_legacy, torch_zip, _torch_pickle  # noqa: E402


def make_model(root: Path, storage_mib: int, tensors: int) -> None:
    root.mkdir(parents=True)
    with fake_torch() as torch:
        sd = state_dict(torch)
        for i in range(tensors):
            sd[f"layers.{i}.weight"] = sd["fc.weight"]
        data_pkl = _torch_pickle(sd)
        legacy_pkl = _torch_pickle(sd)
    storage = os.urandom(1 << 20) * storage_mib
    zipped = torch_zip(data_pkl, extra={"archive/data/2": storage})
    (root / "pytorch_model.bin").write_bytes(zipped)
    (root / "legacy.pt").write_bytes(torch_legacy(legacy_pkl) + storage)
    big = {"rows": [[i, float(i), str(i)] for i in range(400_000)]}
    (root / "features.pkl").write_bytes(pickle.dumps(big, protocol=4))
    header = json.dumps({"w": {"dtype": "F32", "shape": [len(storage) // 4], "data_offsets": [0, len(storage)]}})
    (root / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header.encode() + storage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage-mib", type=int, default=150, help="storage bytes per checkpoint (MiB)")
    parser.add_argument("--tensors", type=int, default=20_000, help="tensors in each state dict")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    tools = {"modelcrate scan": [str(bindir / "modelcrate"), "scan"],
             "picklescan": [str(bindir / "picklescan"), "-p"],
             "modelscan": [str(bindir / "modelscan"), "scan", "-p"]}
    tools = {name: cmd for name, cmd in tools.items() if Path(cmd[0]).exists()}
    work = Path(tempfile.mkdtemp(prefix="modelcrate-bench-scan-"))
    try:
        model = work / "model"
        make_model(model, args.storage_mib, args.tensors)
        size = sum(p.stat().st_size for p in model.iterdir())
        results: dict[str, list[Run]] = {name: [] for name in tools}
        for _ in range(args.rounds):
            for name, cmd in tools.items():
                results[name].append(run([*cmd, str(model)], ok_codes=(0, 1, 6)))
        print(f"model: {size / (1 << 20):.0f} MiB in 4 files, {args.tensors} tensors per state dict; "
              f"best of {args.rounds}")
        ref = best(results["picklescan"]).seconds if "picklescan" in results else None
        print(f"{'scanner':<16} {'seconds':>8} {'vs picklescan':>14} {'peak RSS':>10}")
        for name, runs in results.items():
            b = best(runs)
            ratio = f"{b.seconds / ref:.2f}x" if ref else "-"
            print(f"{name:<16} {b.seconds:>8.2f} {ratio:>14} {b.peak_rss_mib:>7.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
