"""Benchmark: push and pull a generated model against one local registry:2, with modelcrate, curl and oras-py.

One run starts its own ``docker-registry`` (tests/support/registry.py), generates a model (1 GiB in 4 files
by default), and times, as child processes whose peak RSS is read with ``wait4``:

* push: ``curl`` (per file: POST, then one monolithic ``PUT ?digest=`` with the digest computed beforehand,
  untimed), ``modelcrate push REF`` (from the local store; default concurrency 4, and 1), ``oras-py``
  ``OrasClient.push``;
* pull: ``curl`` GET of every blob to a file (no verification), ``modelcrate pull REF -o DIR`` (every byte
  verified, written to files like curl), ``modelcrate pull REF`` into the local store (verified, and each
  blob fsync'ed by the store before it is renamed into place), ``oras-py`` ``OrasClient.pull``.

and, for the cases the transport work targets, side by side in the same run:

* mount: ``modelcrate push REF`` of the stored model to a *new* repository of a registry that holds its
  blobs under another repository (blob-location cache → cross-repository mounts) beside ``skopeo copy``
  doing the same with its blob-info cache; bytes sent are counted from the registry's access log;
* one big blob: ``pull -o`` of a single-file model (``--concurrency 4`` and ``1``) beside ``curl`` GET, with
  the CPU seconds of each client and of the registry, and hashlib's sha256 of the same file: the fastest a
  client that verifies could be on this machine (curl's and the registry's CPU plus one sha256, spread over
  every core) is printed beside the ratio;
* capped: the same single-file pull through a local proxy that caps *each connection* at 50 MiB/s (as
  object stores and CDNs cap one stream), ``modelcrate pull -o`` beside ``curl`` (``--capped-mib``);
* push DIR: ``modelcrate push DIR REF`` of the single-file model (packed on the fly) beside ``curl`` PUT;
* with ``--big-gib N``: peak RSS of ``pull -o`` and ``push`` of one N GiB file (memory must not grow).

Before every timed step the page cache is synced (untimed): on this kind of machine the writeback of the
previous step's gigabyte otherwise halves the next step's speed, whichever client it is. Each push goes
to a fresh repository, so nothing is skipped (registry 2.8.2 keeps blob existence per
repository). Targets: push >= 0.9x curl, pull with verification >= 0.9x curl, peak RSS <= 100 MiB,
>= 2x oras-py both ways. The box is shared and small (2 cores): the summary shows the best and the median
of the rounds, and the ratios use medians.

    python benchmarks/transfer.py --skip-oras       # 1 GiB, 4 files, 3 rounds
    python benchmarks/transfer.py --size-mib 256 --rounds 1
    python benchmarks/transfer.py --skip-oras --big-gib 4   # adds the 4 GiB single-file memory case
    python benchmarks/transfer.py --big-gib 4 --big-only    # that case alone
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _measure import Run, best, median, process_cpu, run  # noqa: E402
from pack import make_model  # noqa: E402

from tests.support.faultproxy import FaultProxy  # noqa: E402
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
    parser.add_argument("--capped-mib", type=int, default=256, help="blob size for the 50 MiB/s-per-connection case")
    parser.add_argument("--big-gib", type=int, default=0, help="also measure peak RSS with one file of N GiB")
    parser.add_argument("--big-only", action="store_true", help="with --big-gib: only that case")
    args = parser.parse_args()
    if args.big_only:
        with tempfile.TemporaryDirectory(prefix="modelcrate-bench-") as tmp_name, RegistryProcess() as reg:
            tmp = Path(tmp_name)
            big_case(args.big_gib or 4, str(Path(sys.executable).with_name("modelcrate")),
                     {"MODELCRATE_HOME": str(tmp / "store"), "DOCKER_CONFIG": str(tmp / "docker")}, reg, tmp)
        return
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

        sizes: dict[str, float] = {}

        def record(name: str, r: Run, mib: float | None = None) -> None:
            os.sync()  # untimed: the next client starts with no writeback of this one's files under way
            results.setdefault(name, []).append(r)
            sizes[name] = mib or total
            print(f"  {name:<50} {sizes[name] / r.seconds:8.1f} MiB/s {r.seconds:7.2f} s {r.peak_rss_mib:7.1f} MiB",
                  flush=True)

        pairs = [x for p, d in zip(paths, digests, strict=True) for x in (str(p), d)]

        def forget_locations() -> None:
            """Empty modelcrate's blob-location cache (in the store's state directory), untimed."""
            shutil.rmtree(home / "state", ignore_errors=True)

        def push_curl(rnd: int) -> None:
            record("push  curl (PUT, digest known)", run(["bash", "-c", CURL_PUSH, "curl-push", base,
                                                          f"bench/curl{rnd}", *pairs]))

        def push_mc(rnd: int, conc: str) -> None:
            ref = f"{reg.host}/bench/mc{rnd}c{conc}:1"
            subprocess.run([cli, "tag", src_ref, ref], env={**os.environ, **env}, check=True, capture_output=True)
            forget_locations()  # measure the upload, not a mount (the mount case is timed on its own)
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

        single = tmp / "single"
        single_paths = make_model(single, args.size_mib, 1)
        single_digest = sha256_file(single_paths[0])
        one_ref = f"{reg.host}/bench/one:1"
        for cmd in (["pack", str(single), "-t", one_ref], ["push", one_ref, "-q"]):  # set-up, not timed
            subprocess.run([cli, *cmd], env={**os.environ, **env}, check=True, capture_output=True)
        skopeo = shutil.which("skopeo")
        if skopeo:  # skopeo sees the blobs once (untimed), as modelcrate did when it pushed the source
            subprocess.run([skopeo, "copy", "-q", "--dest-tls-verify=false", f"oci:{home}:{src_ref}",
                            f"docker://{reg.host}/bench/sksource:1"], check=True, capture_output=True)
        sent: dict[str, list[int]] = {}

        def upload_requests(since: int) -> int:
            """Requests carrying blob bytes (PATCH/PUT on upload sessions) in the access log after ``since``."""
            return sum(1 for line in reg.read_log().splitlines()[since:]
                       if re.search(r'"(PATCH|PUT) /v2/\S+/blobs/uploads/', line))

        def mount_mc(rnd: int) -> None:
            ref = f"{reg.host}/bench/mount{rnd}:1"
            subprocess.run([cli, "tag", src_ref, ref], env={**os.environ, **env}, check=True, capture_output=True)
            mark = len(reg.read_log().splitlines())
            record("mount modelcrate push REF (new repository)", run([cli, "push", ref, "-q"], env=env))
            sent.setdefault("mount modelcrate", []).append(upload_requests(mark))

        def mount_skopeo(rnd: int) -> None:
            mark = len(reg.read_log().splitlines())
            record("mount skopeo copy (new repository)", run([
                skopeo, "copy", "-q", "--dest-tls-verify=false", f"oci:{home}:{src_ref}",  # type: ignore[list-item]
                f"docker://{reg.host}/bench/skmount{rnd}:1"]))
            sent.setdefault("mount skopeo", []).append(upload_requests(mark))

        one_cpu: dict[str, list[tuple[float, float]]] = {}  # name -> (client, registry) CPU seconds per run

        def one_run(name: str, cmd: list[str], run_env: dict[str, str] | None = None) -> None:
            pid: int = reg.pid  # type: ignore[assignment]
            before = process_cpu(pid)
            r = run(cmd, env=run_env)
            one_cpu.setdefault(name, []).append((r.cpu_seconds, process_cpu(pid) - before))
            record(name, r, single_mib)

        def one_curl(rnd: int) -> None:
            out = tmp / "one-curl.bin"
            one_run("one   curl GET > file", [curl, "-sS", "-f", "-o", str(out),
                                              f"{base}/v2/bench/one/blobs/{single_digest}"])
            out.unlink()

        def one_mc(rnd: int, conc: str) -> None:
            out = tmp / f"one-mc{rnd}"
            one_run(f"one   modelcrate pull -o (concurrency {conc})",
                    [cli, "pull", one_ref, "-o", str(out), "-q", "--concurrency", conc], env)
            shutil.rmtree(out)

        def hash_cpu() -> float:
            """CPU seconds of hashlib's sha256 over the single file, read from the page cache (best of 3)."""
            times = []
            for _ in range(3):
                start = time.process_time()
                sha256_file(single_paths[0])
                times.append(time.process_time() - start)
            return min(times)

        def capped(rnd: int) -> None:
            with FaultProxy(reg.port) as proxy:
                proxy.rate_limit(50 * (1 << 20))
                out = tmp / "capped-curl.bin"
                record("cap   curl GET via 50 MiB/s/conn proxy", run([
                    curl, "-sS", "-f", "-o", str(out), f"{proxy.url}/v2/bench/capped/blobs/{capped_digest}"]),
                    capped_mib)
                out.unlink()
                dest = tmp / f"capped-mc{rnd}"
                record("cap   modelcrate pull -o via 50 MiB/s/conn proxy", run([
                    cli, "pull", f"{proxy.host}/bench/capped:1", "-o", str(dest), "-q"], env=env), capped_mib)
                shutil.rmtree(dest)

        pdir_repos = itertools.count()  # a fresh repository for every push DIR: nothing is held there

        def push_dir_curl(rnd: int) -> None:
            record("pdir  curl PUT of the file (digest known)", run(["bash", "-c", CURL_PUSH, "curl-push", base,
                                                                    f"bench/pdircurl{next(pdir_repos)}",
                                                                    str(single_paths[0]), single_digest]), single_mib)

        def push_dir_mc(rnd: int) -> None:
            forget_locations()  # and the file-digest cache beside it: the file is read and hashed again
            record("pdir  modelcrate push DIR REF", run([cli, "push", str(single),
                                                          f"{reg.host}/bench/pdir{next(pdir_repos)}:1", "-q"], env=env),
                   single_mib)

        single_mib = args.size_mib
        capped_mib = args.capped_mib
        capped_dir = tmp / "capped"
        make_model(capped_dir, capped_mib, 1)
        capped_digest = sha256_file(next(capped_dir.glob("*.safetensors")))
        capped_ref = f"{reg.host}/bench/capped:1"
        for cmd in (["pack", str(capped_dir), "-t", capped_ref], ["push", capped_ref, "-q"]):
            subprocess.run([cli, *cmd], env={**os.environ, **env}, check=True, capture_output=True)
        # The mount case runs right after the pushes, whose blob locations it mounts from.
        extra = [mount_mc, *([mount_skopeo] if skopeo else [])]
        ones = [one_curl, lambda r: one_mc(r, "4"), lambda r: one_mc(r, "1")]
        pdirs = [push_dir_curl, push_dir_mc]

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
            # push DIR pairs run both ways round (A B B A): the second 1 GiB written to the registry's disk
            # in a row is the slower one, by up to 0.7 s, whichever client writes it.
            for step in (extra + ones[rnd % len(ones):] + ones[:rnd % len(ones)] + [capped]
                         + pdirs + pdirs[::-1]):
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
        print(f"\n{'case':<50} {'median':>8} {'MiB/s':>7} {'ratio':>22} {'peak RSS':>10}")
        for group, ref_word in (("one", "curl"), ("cap", "curl"), ("pdir", "curl"), ("mount", "skopeo")):
            names = [k for k in results if k.startswith(group + " ")]
            ref_name = next((k for k in names if ref_word in k), None)
            ref_med = median(results[ref_name]) if ref_name else None
            for name in names:
                m = median(results[name])
                ratio = f"{ref_med / m:6.2f}x {ref_word} speed" if ref_med else "-"
                print(f"{name:<50} {m:7.2f}s {sizes[name] / m:7.1f} {ratio:>22} "
                      f"{max(x.peak_rss_mib for x in results[name]):7.1f} MiB")
        for name, counts in sent.items():
            print(f"{name}: upload requests carrying blob bytes per run: {counts}")
        cpu_budget(one_cpu, {k: median(results[k]) for k in one_cpu}, hash_cpu(), single_mib)
        print("targets: one blob pull >= 1.0x curl; capped >= 3x curl; push DIR >= 0.95x curl; "
              "mount <= 0.5 s with 0 upload requests")
        if args.big_gib:
            big_case(args.big_gib, cli, env, reg, tmp)


def cpu_budget(cpu: dict[str, list[tuple[float, float]]], wall: dict[str, float], sha256_cpu: float,
               mib: float) -> None:
    """Where the CPU of a one-blob pull goes, and the fastest any verifying client could be here: the
    reference's and the registry's CPU plus one sha256 of the blob, spread over every core."""
    cores = os.cpu_count() or 1
    print(f"\nCPU seconds of the one-blob pulls ({mib:.0f} MiB, medians), client + registry, and cores busy:")
    for name, runs in cpu.items():
        client, served = median_pair(runs)
        print(f"  {name:<48} {client:5.2f} + {served:5.2f} = {client + served:5.2f} s in {wall[name]:5.2f} s "
              f"({(client + served) / wall[name]:.2f} of {cores} cores)")
    print(f"  hashlib sha256 of the same file, from the page cache: {sha256_cpu:.2f} s of one core")
    ref = next(k for k in cpu if "curl" in k)
    client, served = median_pair(cpu[ref])
    floor = max(wall[ref], (client + served + sha256_cpu) / cores)
    print(f"  a client that verifies needs at least (curl + registry + sha256) / {cores} cores = {floor:.2f} s: "
          f"at best {wall[ref] / floor:.2f}x curl speed on this machine")


def median_pair(runs: list[tuple[float, float]]) -> tuple[float, float]:
    ordered = sorted(runs, key=sum)
    return ordered[len(ordered) // 2]


def big_case(gib: int, cli: str, env: dict[str, str], reg: RegistryProcess, tmp: Path) -> None:
    """Peak RSS of pushing and pulling one file of ``gib`` GiB: memory must not grow with the model."""
    big = tmp / "big"
    make_model(big, gib * 1024, 1)
    ref = f"{reg.host}/bench/big:1"
    subprocess.run([cli, "pack", str(big), "-t", ref], env={**os.environ, **env}, check=True, capture_output=True)
    shutil.rmtree(big)
    os.sync()
    pushed = run([cli, "push", ref, "-q"], env=env)
    os.sync()
    pulled = run([cli, "pull", ref, "-o", str(tmp / "big-out"), "-q"], env=env)
    print(f"\n{gib} GiB single file: push {pushed.seconds:.1f} s peak RSS {pushed.peak_rss_mib:.1f} MiB; "
          f"pull -o {pulled.seconds:.1f} s peak RSS {pulled.peak_rss_mib:.1f} MiB (target <= 100 MiB)")


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
