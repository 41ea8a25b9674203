"""Shared benchmark helpers: run a command as a child process, time it, read its peak RSS."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# Child Python tools (modelcrate, oras-py) run as installed, with their bytecode cached, rather than
# recompiled at every start because the calling shell happens to set PYTHONDONTWRITEBYTECODE.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float
    cpu_seconds: float = 0.0  # the child's user + system time


def process_cpu(pid: int) -> float:
    """User + system CPU seconds a running process (e.g. the registry) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(cmd: list[str], env: dict[str, str] | None = None, ok_codes: tuple[int, ...] = (0,)) -> Run:
    """Wall time and peak resident memory of one child process (os.wait4 gives that child's own rusage);
    an exit code outside ``ok_codes`` (scanners exit non-zero on findings) ends the benchmark."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok_codes:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}")
    return Run(elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)  # ru_maxrss is KiB on Linux


def best(runs: list[Run]) -> Run:
    """The fastest run (least disturbed by other load), with the highest RSS seen across runs."""
    fastest = min(runs, key=lambda r: r.seconds)
    return Run(fastest.seconds, max(r.peak_rss_mib for r in runs), fastest.cpu_seconds)


def median(runs: list[Run]) -> float:
    """Median seconds: on a shared 2-core machine a single lucky or unlucky run says little."""
    ordered = sorted(r.seconds for r in runs)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
