"""Benchmark: push and pull a generated model against one local registry:2, with modelcrate, curl and oras-py.

One run starts its own ``docker-registry`` (tests/support/registry.py), generates a model (1 GiB in 4 files
by default), and times, as child processes whose peak RSS is read with ``wait4``:

* push: ``curl`` (per file: POST, then one monolithic ``PUT ?digest=`` with the digest computed beforehand,
  untimed), ``modelcrate push REF`` (from the local store; default concurrency 4, and 1), ``oras-py``
  ``OrasClient.push``;
* pull: ``curl`` GET of every blob to a file (no verification), ``modelcrate pull REF -o DIR`` (every byte
  verified, written to files like curl), ``modelcrate pull REF`` into the local store (verified, and each
  blob fsync'ed by the store before it is renamed into place), ``oras-py`` ``OrasClient.pull``.

Before every timed step the page cache is synced (untimed): on this kind of machine the writeback of the
previous step's gigabyte otherwise halves the next step's speed, whichever client it is. Each push goes
to a fresh repository, so nothing is skipped (registry 2.8.2 keeps blob existence per
repository). Targets: push >= 0.9x curl, pull with verification >= 0.9x curl, peak RSS <= 100 MiB,
>= 2x oras-py both ways. The box is shared and small (2 cores): the summary shows the best and the median
of the rounds, and the ratios use medians.

    python benchmarks/transfer.py                  # 1 GiB, 4 files, 3 rounds
    python benchmarks/transfer.py --size-mib 256 --rounds 1
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _measure import Run, best, median, run  # noqa: E402
from pack import make_model  # noqa: E402

from tests.support.registry import RegistryProcess  # noqa: E402

CURL_PUSH = r"""
set -euo pipefail
base="$1"; repo="$2"; shift 2
while [ $# -gt 0 ]; do
  file="$1"; digest="$2"; shift 2
  loc=$(curl -sS -o /dev/null -D - -X POST "$base/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case "$loc" in http*) ;; *) loc="$base$loc" ;; esac
  curl -sS -f -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T "$file" "$loc&digest=$digest"
done
"""

CURL_PULL = r"""
set -euo pipefail
base="$1"; repo="$2"; out="$3"; shift 3
for digest in "$@"; do
  curl -sS -f -o "$out/${digest#sha256:}" "$base/v2/$repo/blobs/$digest"
done
"""

ORAS_PUSH = """
import sys
from oras.client import OrasClient
host, target = sys.argv[1], sys.argv[2]
OrasClient(hostname=host, insecure=True).push(target=target, files=sys.argv[3:], quiet=True)
"""

ORAS_PULL = """
import sys
from oras.client import OrasClient
host, target, out = sys.argv[1:4]
OrasClient(hostname=host, insecure=True).pull(target=target, outdir=out)
"""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-oras", action="store_true", help="leave oras-py out (it is slow and memory-hungry)")
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("modelcrate"))
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("curl is needed as the baseline")
    with tempfile.TemporaryDirectory(prefix="modelcrate-bench-") as tmp_name, RegistryProcess() as reg:
        tmp = Path(tmp_name)
        model = tmp / "model"
        paths = make_model(model, args.size_mib, args.files)
        digests = [sha256_file(p) for p in paths]  # curl's "precomputed digest": not timed
        total = sum(p.stat().st_size for p in paths) / (1 << 20)
        base = reg.url
        home = tmp / "store"
        env = {"MODELCRATE_HOME": str(home), "DOCKER_CONFIG": str(tmp / "docker")}
        src_ref = f"{reg.host}/bench/source:1"
        for cmd in (["pack", str(model), "-t", src_ref], ["push", src_ref, "-q"]):  # set-up, not timed
            subprocess.run([cli, *cmd], env={**os.environ, **env}, check=True, capture_output=True)
        os.sync()
        results: dict[str, list[Run]] = {}

        def record(name: str, r: Run) -> None:
            os.sync()  # untimed: the next client starts with no writeback of this one's files under way
            results.setdefault(name, []).append(r)
            print(f"  {name:<44} {total / r.seconds:8.1f} MiB/s  {r.peak_rss_mib:7.1f} MiB", flush=True)

        pairs = [x for p, d in zip(paths, digests, strict=True) for x in (str(p), d)]

        def push_curl(rnd: int) -> None:
            record("push  curl (PUT, digest known)", run(["bash", "-c", CURL_PUSH, "curl-push", base,
                                                          f"bench/curl{rnd}", *pairs]))

        def push_mc(rnd: int, conc: str) -> None:
            ref = f"{reg.host}/bench/mc{rnd}c{conc}:1"
            subprocess.run([cli, "tag", src_ref, ref], env={**os.environ, **env}, check=True, capture_output=True)
            record(f"push  modelcrate push REF (concurrency {conc})",
                   run([cli, "push", ref, "-q", "--concurrency", conc], env=env))

        def push_oras(rnd: int) -> None:
            record("push  oras-py 0.2.43", _in(model, [sys.executable, "-c", ORAS_PUSH, reg.host,
                                                       f"{reg.host}/bench/oras{rnd}:1", *[p.name for p in paths]]))

        def pull_curl(rnd: int) -> None:
            out = tmp / f"curl-out{rnd}"
            out.mkdir()
            record("pull  curl GET > file (no verification)", run(["bash", "-c", CURL_PULL, "curl-pull", base,
                                                                  "bench/source", str(out), *digests]))
            shutil.rmtree(out)

        def pull_mc_dir(rnd: int) -> None:
            out = tmp / f"mc-out{rnd}"
            record("pull  modelcrate pull -o DIR (verified)", run([cli, "pull", src_ref, "-o", str(out), "-q"],
                                                                  env=env))
            shutil.rmtree(out)

        def pull_mc_store(rnd: int) -> None:
            fresh = {**env, "MODELCRATE_HOME": str(tmp / f"fresh{rnd}")}
            record("pull  modelcrate pull -> store (verified, fsync)", run([cli, "pull", src_ref, "-q"], env=fresh))
            shutil.rmtree(tmp / f"fresh{rnd}")

        def pull_oras(rnd: int) -> None:
            out = tmp / f"oras-out{rnd}"
            record("pull  oras-py 0.2.43", run([sys.executable, "-c", ORAS_PULL, reg.host,
                                                f"{reg.host}/bench/oras{rnd}:1", str(out)]))
            shutil.rmtree(out, ignore_errors=True)

        pushes = [push_curl, lambda r: push_mc(r, "4"), lambda r: push_mc(r, "1")]
        pulls = [pull_curl, pull_mc_dir, pull_mc_store]
        if not args.skip_oras:
            pushes.append(push_oras)
            pulls.append(pull_oras)
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}/{args.rounds}", flush=True)
            # Rotate the order each round: no client always gets the same slot after the others' writes.
            for step in pushes[rnd % len(pushes):] + pushes[:rnd % len(pushes)]:
                step(rnd)
            for step in pulls[rnd % len(pulls):] + pulls[:rnd % len(pulls)]:
                step(rnd)

        print(f"\nmodel: {total:.0f} MiB in {args.files} files; registry {reg.binary} on {reg.host}; "
              f"{args.rounds} round(s), client order rotated each round; {os.cpu_count()} CPUs")
        print(f"{'operation':<50} {'best':>7} {'median':>7} {'vs curl':>8} {'vs oras':>8} {'peak RSS':>10}")
        print(f"{'':<50} {'MiB/s':>7} {'MiB/s':>7} {'(median)':>8} {'(median)':>8}")
        for op in ("push", "pull"):
            curl_med = median(results[next(k for k in results if k.startswith(op) and "curl" in k)])
            oras_key = next((k for k in results if k.startswith(op) and "oras" in k), None)
            oras_med = median(results[oras_key]) if oras_key else None
            for name, runs in results.items():
                if not name.startswith(op):
                    continue
                r, m = best(runs), median(runs)
                vs_oras = f"{oras_med / m:7.2f}x" if oras_med else "       -"
                print(f"{name:<50} {total / r.seconds:7.1f} {total / m:7.1f} {curl_med / m:7.2f}x {vs_oras} "
                      f"{max(x.peak_rss_mib for x in runs):7.1f} MiB")
        print("targets: push >= 0.90x curl; pull with verification >= 0.90x curl; peak RSS <= 100 MiB; "
              ">= 2x oras-py both ways")


def _in(cwd: Path, cmd: list[str]) -> Run:
    """run() in another working directory (oras-py only accepts files below the current directory)."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return run(cmd)
    finally:
        os.chdir(old)


if __name__ == "__main__":
    main()
