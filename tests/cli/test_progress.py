"""One progress renderer for every long operation: width-aware, a sane ETA, and -q everywhere."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import pytest

from modelcrate.cli.progress import Bars, eta_text
from modelcrate.format.descriptor import Descriptor
from modelcrate.format.mediatypes import ANN_FILEPATH
from tests.support.terminal import on_terminal
from tests.support.registry import RegistryProcess

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


def _visible_lines(text: str) -> list[str]:
    return [line for line in ANSI.sub("\n", text).split("\n") if line.strip()]


@pytest.mark.parametrize(("elapsed", "done", "total", "shown"), [
    (0.1, 4096, 300 << 20, ""),          # the first tick: an estimate would be noise (was "1694626s")
    (10.0, 1, 1000, ""),                # under 2 %: no estimate yet
    (10.0, 500, 1000, "10s"),
    (60.0, 3, 100, "32m20s"),
    (3600.0, 40, 100, "1h30m"),
    (5.0, 1, 10**9, ""),                # more than a day: not shown
    (10.0, 1000, 1000, ""),             # finished
])
def test_eta_is_blank_until_it_means_something(elapsed: float, done: int, total: int, shown: str) -> None:
    assert eta_text(elapsed, done, total) == shown


def test_bars_fit_a_60_column_terminal() -> None:
    out = io.StringIO()
    bars = Bars(out, "pushing", width=60, terminal=True)
    blobs = [Descriptor("application/vnd.cncf.model.weight.v1.raw", "sha256:" + f"{i:064x}", 300 << 20,
                        {ANN_FILEPATH: f"a/rather/long/directory/name/model-{i:05d}-of-00004.safetensors"})
             for i in range(4)]
    for d in blobs:
        bars.start(d)
        bars.advance(d, 172 << 20)
    bars.bars.refresh()
    for d in blobs:
        bars.done(d)
    bars.finish()
    lines = _visible_lines(out.getvalue())
    assert any("pushing" in line for line in lines) and any("done" in line for line in lines)
    assert max(len(line) for line in lines) <= 60, max(lines, key=len)


def _in_pty(args: list[str], env: dict[str, str], columns: int = 60) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal ``columns`` wide; (exit code, what the terminal showed)."""
    code, _stdout, shown = on_terminal(args, env, columns)
    return code, shown


def test_push_pack_and_unpack_show_bars_on_a_terminal_and_nothing_with_q(
        registry: RegistryProcess, home: Path, tmp_path: Path, example: Path, repo: str,
        docker_config: Path) -> None:
    env = {**os.environ, "MODELCRATE_HOME": str(home)}
    ref = f"{registry.host}/{repo}:1"
    code, shown = _in_pty(["push", str(example), ref], env)
    assert code == 0, shown
    lines = [line for line in _visible_lines(shown) if not line.startswith("pushed ")]  # the summary may wrap
    assert any("pushing" in line for line in lines) and max(len(line) for line in lines) <= 60, lines
    code, shown = _in_pty(["pack", str(example), "-t", "m:1"], env)
    assert code == 0 and "packing" in shown and "packed m:1" in shown
    code, shown = _in_pty(["unpack", "m:1", str(tmp_path / "out")], env)
    assert code == 0 and "unpacking" in shown
    for args in (["push", str(example), ref, "-q"], ["pack", str(example), "-t", "m:2", "-q"],
                 ["unpack", "m:1", str(tmp_path / "out2"), "-q"], ["pull", ref, "-q"]):
        code, shown = _in_pty(args, env)
        assert code == 0 and shown.strip() == "", (args, shown)


@pytest.mark.parametrize("args", [["--help"], ["list"], ["list", "-q"]], ids=["help", "list", "list-q"])
def test_the_renderer_is_loaded_only_for_long_operations(args: list[str], tmp_path: Path) -> None:
    """rich (and the copy machinery) load with a long operation on a terminal, never for start-up."""
    import json
    import sys

    code = ("import sys, json\nfrom modelcrate.cli.main import cli\n"
            f"try:\n    cli({args!r}, prog_name='modelcrate')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"MODELCRATE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not {m for m in loaded if m == "rich" or m.startswith(("rich.", "modelcrate.graphcopy"))}
