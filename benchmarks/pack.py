"""Benchmark: `modelcrate pack` against a plain hashlib sha256 read of the same files.

Generates a model of several files (2 GiB by default), then, in the same run and alternating so both see
the same page cache, times `modelcrate pack` into a fresh store and a plain hashlib read of every file.
`pack --concurrency 1` (one file at a time) is timed too. Prints seconds, MiB/s, the ratio pack/hashlib (target <= 1.3) and pack's peak RSS (target <= 100 MiB).
A second reference, a plain copy of the same files with fsync (no hashing), shows the floor that the
disk's durable write speed sets for any store that makes its writes durable.

    python benchmarks/pack.py                 # 2 GiB, 3 rounds
    python benchmarks/pack.py --size-mib 256 --rounds 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import Run, best, run  # noqa: E402

HASH_SCRIPT = """
import hashlib, sys
for path in sys.argv[1:]:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
"""

# The durable-copy floor: what any store that promises temp + fsync + rename must pay on this disk.
COPY_SCRIPT = """
import os, sys, tempfile
out = tempfile.mkdtemp(dir=sys.argv[1])
for path in sys.argv[2:]:
    with open(path, 'rb') as src, open(os.path.join(out, os.path.basename(path)), 'wb') as dst:
        while chunk := src.read(4 << 20):
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
"""


def make_model(root: Path, total_mib: int, files: int) -> list[Path]:
    root.mkdir(parents=True)
    sizes = [total_mib // files] * files
    paths = []
    block = os.urandom(1 << 20)
    for i, mib in enumerate(sizes):
        path = root / f"model-{i + 1:05d}-of-{files:05d}.safetensors"
        with open(path, "wb") as f:
            for j in range(mib):  # vary each MiB so no two blocks repeat
                f.write(j.to_bytes(8, "little") + i.to_bytes(8, "little") + block[16:])
        paths.append(path)
    (root / "config.json").write_text('{"architectures": ["Bench"]}')
    (root / "modelcrate.yaml").write_text(
        "name: bench\nversion: 1.0.0\nfiles:\n  - {path: '*.safetensors', kind: weight}\n"
        "  - {path: config.json, kind: weight.config}\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("modelcrate"))
    with tempfile.TemporaryDirectory(prefix="modelcrate-bench-") as tmp:
        model = Path(tmp) / "model"
        paths = make_model(model, args.size_mib, args.files)
        files = [str(p) for p in paths] + [str(model / "config.json")]
        run([sys.executable, "-c", HASH_SCRIPT, *files])  # warm the page cache once
        ref: list[Run] = []
        copies: list[Run] = []
        packs: list[Run] = []
        serial: list[Run] = []
        for i in range(args.rounds):
            ref.append(run([sys.executable, "-c", HASH_SCRIPT, *files]))
            scratch = Path(tmp) / f"copy{i}"
            scratch.mkdir()
            copies.append(run([sys.executable, "-c", COPY_SCRIPT, str(scratch), *files]))
            shutil.rmtree(scratch)
            os.sync()  # untimed: each writer starts with no writeback of the previous one under way
            home = Path(tmp) / f"home{i}"
            packs.append(run([cli, "pack", str(model), "-t", "bench:1"], env={"MODELCRATE_HOME": str(home)}))
            shutil.rmtree(home)
            os.sync()
            serial.append(run([cli, "pack", str(model), "-t", "bench:1", "--concurrency", "1"],
                              env={"MODELCRATE_HOME": str(home)}))
            shutil.rmtree(home)
            os.sync()
        r, c, p, s1 = best(ref), best(copies), best(packs), best(serial)
        mib = args.size_mib
        print(f"model: {mib} MiB in {args.files} files; best of {args.rounds} rounds")
        print(f"hashlib sha256 read : {r.seconds:7.2f} s  {mib / r.seconds:8.0f} MiB/s  peak RSS {r.peak_rss_mib:6.1f} MiB")
        print(f"copy + fsync        : {c.seconds:7.2f} s  {mib / c.seconds:8.0f} MiB/s  peak RSS {c.peak_rss_mib:6.1f} MiB")
        print(f"modelcrate pack     : {p.seconds:7.2f} s  {mib / p.seconds:8.0f} MiB/s  peak RSS {p.peak_rss_mib:6.1f} MiB")
        print(f"  --concurrency 1   : {s1.seconds:7.2f} s  {mib / s1.seconds:8.0f} MiB/s  peak RSS {s1.peak_rss_mib:6.1f} MiB")
        print(f"ratio pack/hashlib  : {p.seconds / r.seconds:.2f}x  (target <= 1.3x; peak RSS target <= 100 MiB)")
        print(f"ratio pack/copy     : {p.seconds / c.seconds:.2f}x  (pack hashes, copies and fsyncs; copy only copies and fsyncs)")


if __name__ == "__main__":
    main()
