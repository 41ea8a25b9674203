"""Benchmark: a model of many small files (500 x ~20 KB by default), modelcrate beside skopeo, one registry.

One run starts its own ``docker-registry`` (tests/support/registry.py), packs the model into a local store
(untimed) and times, as child processes, per round:

* push: ``modelcrate push REF`` from the local store to a fresh repository, and ``skopeo copy`` of the same
  OCI layout entry to another fresh repository;
* pull: ``modelcrate pull REF -o DIR`` (every byte verified, each file fsync'ed before it is renamed into
  place), ``modelcrate pull REF`` into an empty store, and ``skopeo copy docker://… dir:DIR``.

The page cache is synced before every step (untimed). Targets: push <= 2.5 s, pull <= 1.5 s; the ratios to
skopeo use medians.

    python benchmarks/smallfiles.py                     # 500 files, 3 rounds
    python benchmarks/smallfiles.py --files 200 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _measure import Run, median, run  # noqa: E402

from tests.support.registry import RegistryProcess  # noqa: E402


def make_small_model(root: Path, files: int, size: int) -> None:
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"shard-{i:05d}.bin").write_bytes(b"\0" + os.urandom(size - 1))  # not pickle-like: no scan warnings
    (root / "modelcrate.yaml").write_text("name: small\nversion: 1.0.0\nfiles:\n  - {path: '*.bin', kind: weight}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size-kb", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-skopeo", action="store_true", help="leave the reference out (quick checks only)")
    parser.add_argument("--skopeo-rounds", type=int, default=None,
                        help="rounds that also run skopeo (default: all; it takes minutes for 500 layers)")
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("modelcrate"))
    skopeo = None if args.skip_skopeo else shutil.which("skopeo")
    with tempfile.TemporaryDirectory(prefix="modelcrate-bench-") as tmp_name, RegistryProcess() as reg:
        tmp = Path(tmp_name)
        make_small_model(tmp / "model", args.files, args.size_kb * 1000)
        home = tmp / "store"
        env = {"MODELCRATE_HOME": str(home), "DOCKER_CONFIG": str(tmp / "docker")}
        src_ref = f"{reg.host}/bench/small:1"
        for cmd in (["pack", str(tmp / "model"), "-t", src_ref], ["push", src_ref, "-q"]):  # set-up, untimed
            subprocess.run([cli, *cmd], env={**os.environ, **env}, check=True, capture_output=True)
        results: dict[str, list[Run]] = {}

        def record(name: str, r: Run) -> None:
            os.sync()
            results.setdefault(name, []).append(r)
            print(f"  {name:<40} {r.seconds:7.2f} s  {r.peak_rss_mib:7.1f} MiB", flush=True)

        for rnd in range(args.rounds):
            print(f"round {rnd + 1}/{args.rounds}", flush=True)
            os.sync()
            ref = f"{reg.host}/bench/mc{rnd}:1"
            subprocess.run([cli, "tag", src_ref, ref], env={**os.environ, **env}, check=True, capture_output=True)
            record("push  modelcrate push REF", run([cli, "push", ref, "-q"], env=env))
            with_skopeo = skopeo and (args.skopeo_rounds is None or rnd < args.skopeo_rounds)
            if with_skopeo:
                record("push  skopeo copy oci: docker://", run([
                    skopeo, "copy", "-q", "--dest-tls-verify=false", f"oci:{home}:{src_ref}",
                    f"docker://{reg.host}/bench/skopeo{rnd}:1"]))
            out = tmp / f"out{rnd}"
            record("pull  modelcrate pull -o DIR", run([cli, "pull", src_ref, "-o", str(out), "-q"], env=env))
            shutil.rmtree(out)
            fresh = tmp / f"fresh{rnd}"
            record("pull  modelcrate pull -> store", run([cli, "pull", src_ref, "-q"],
                                                         env={**env, "MODELCRATE_HOME": str(fresh)}))
            shutil.rmtree(fresh)
            if with_skopeo:
                record("pull  skopeo copy docker:// dir:", run([
                    skopeo, "copy", "-q", "--src-tls-verify=false", f"docker://{src_ref}", f"dir:{out}"]))
                shutil.rmtree(out)

        print(f"\nmodel: {args.files} files of {args.size_kb} KB; registry {reg.binary}; {args.rounds} round(s); "
              f"{os.cpu_count()} CPUs")
        print(f"{'operation':<44} {'median s':>9} {'vs skopeo':>10} {'peak RSS':>10}")
        for op in ("push", "pull"):
            ref_key = next((k for k in results if k.startswith(op) and "skopeo" in k), None)
            ref_med = median(results[ref_key]) if ref_key else None
            for name, runs in results.items():
                if name.startswith(op):
                    m = median(runs)
                    vs = f"{ref_med / m:9.2f}x" if ref_med else "        -"
                    print(f"{name:<44} {m:9.2f} {vs} {max(r.peak_rss_mib for r in runs):7.1f} MiB")
        print("targets: push <= 2.5 s, pull <= 1.5 s (500 x 20 KB)")


if __name__ == "__main__":
    main()
