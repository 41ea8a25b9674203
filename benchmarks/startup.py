"""Benchmark: start-up time of `modelcrate --help` and `modelcrate list` against `python -c "import click"`.

Every command is a child process of the same interpreter, run alternately so that all see the same load
and page cache; the median of N runs is reported, with each ratio to the click import (the floor for any
click CLI). Targets: `--help` <= 2x and `list` <= 2.5x. `python -c pass` is shown for scale. `list` runs
against an empty store in a temporary MODELCRATE_HOME.

    python benchmarks/startup.py             # 21 runs each
    python benchmarks/startup.py --runs 41
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run  # noqa: E402  (also clears PYTHONDONTWRITEBYTECODE for the children)

TARGETS = {"modelcrate --help": 2.0, "modelcrate list": 2.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    py = sys.executable
    script = Path(py).with_name("modelcrate")  # the console script a user runs
    cli = [str(script)] if script.exists() else [py, "-c", "from modelcrate.cli.main import main; main()"]
    with tempfile.TemporaryDirectory(prefix="modelcrate-bench-") as home:
        env = {"MODELCRATE_HOME": home}
        commands = {
            "python -c pass": [py, "-c", "pass"],
            'python -c "import click"': [py, "-c", "import click"],
            "modelcrate --help": [*cli, "--help"],
            "modelcrate list": [*cli, "list"],
        }
        for cmd in commands.values():  # warm the bytecode cache and the page cache
            run(cmd, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(run(cmd, env).seconds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = medians['python -c "import click"']
    print(f"start-up, median of {args.runs} runs, {sys.version.split()[0]} ({py})")
    failed = False
    for name, seconds in medians.items():
        ratio = seconds / floor
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            ok = ratio <= target
            failed |= not ok
            verdict = f"  target <= {target:.1f}x  {'OK' if ok else 'MISSED'}"
        print(f"  {name:<28} {seconds * 1000:7.1f} ms  {ratio:5.2f}x import click{verdict}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
