"""`pack` and `push DIR` progress by the byte: the hash/copy loop reports each chunk it reads, and the
one renderer shows a single total line moving with those bytes (none with -q, nothing but JSON on stdout
with --json)."""

from __future__ import annotations

import io
import json
import os
import re
import threading
from pathlib import Path

from modelcrate import packing
from modelcrate._internal.fsutil import CHUNK, hash_copy
from modelcrate.cli.progress import Bars
from modelcrate.content.layout import LocalStore
from modelcrate.format.descriptor import Descriptor
from modelcrate.graphcopy import Progress
from tests.support.terminal import on_terminal

STYLE = re.compile(r"\x1b\[[0-9;]*m")  # colours, inside a line
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")  # cursor moves: between lines
BIG = 2 * CHUNK + 12345  # three chunks


class Recorder(Progress):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.planned: list[int] = []
        self.chunks: list[int] = []
        self.done_count = 0
        self.chunks_at_first_done: int | None = None

    def hashing(self, nbytes: int) -> None:
        self.planned.append(nbytes)

    def hashed(self, nbytes: int) -> None:
        with self.lock:
            self.chunks.append(nbytes)

    def done(self, desc: Descriptor) -> None:
        with self.lock:
            self.done_count += 1
            if self.chunks_at_first_done is None:
                self.chunks_at_first_done = len(self.chunks)


def _model(root: Path) -> Path:
    (root / "shards").mkdir(parents=True)
    (root / "big.safetensors").write_bytes(os.urandom(BIG))
    (root / "config.json").write_text('{"a": 1}')
    (root / "shards" / "one.txt").write_text("one\n" * 1000)
    (root / "shards" / "two.txt").write_text("two\n" * 1000)
    (root / "modelcrate.yaml").write_text(
        "name: progress\nversion: 1.0.0\nfiles:\n  - {path: big.safetensors, kind: weight}\n"
        "  - {path: config.json, kind: weight.config}\n  - {path: shards, kind: doc, archive: true}\n")
    return root


def _visible(text: str) -> list[str]:
    return [line.rstrip() for line in CONTROL.sub("\n", STYLE.sub("", text)).split("\n") if line.strip()]


def test_hash_copy_reports_every_chunk_it_reads(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(BIG))
    seen: list[int] = []
    with open(src, "rb") as f:
        _hex, size = hash_copy(f.fileno(), None, seen.append)
    assert size == BIG and sum(seen) == BIG and seen == [CHUNK, CHUNK, 12345]


def test_pack_reports_bytes_from_inside_the_hash_loop(tmp_path: Path) -> None:
    plan = packing.plan(_model(tmp_path / "m"))
    heard = Recorder()
    result = packing.pack(plan, LocalStore(tmp_path / "home").repository("progress"), "1.0.0", concurrency=1,
                          progress=heard)
    files = BIG + len('{"a": 1}') + 2 * 4000
    assert heard.planned == [files]  # said once, before any byte is read
    assert sum(heard.chunks) == sum(d.size for d in result.layers)  # the tar's headers included
    assert heard.chunks.count(CHUNK) >= 2  # the big file in several steps, not one per file
    assert heard.chunks_at_first_done and heard.chunks_at_first_done >= 3 and heard.done_count == 3


def test_push_dir_staging_reports_bytes_as_it_hashes(tmp_path: Path) -> None:
    plan = packing.plan(_model(tmp_path / "m"))
    heard = Recorder()
    _source, _root = packing.stage(plan, concurrency=2, progress=heard)
    assert heard.planned and sum(heard.chunks) >= heard.planned[0] and heard.chunks.count(CHUNK) >= 2


def test_one_bar_moves_by_the_byte_and_fits_the_terminal() -> None:
    out = io.StringIO()
    bars = Bars(out, "packing", width=60, terminal=True)
    bars.hashing(400 << 20)
    bars.hashed(100 << 20)
    bars.bars.refresh()
    bars.hashed(100 << 20)
    bars.bars.refresh()
    bars.done(Descriptor("application/octet-stream", "sha256:" + "1" * 64, 200 << 20))
    bars.finish()
    lines = _visible(out.getvalue())
    assert any("packing" in line and "100.0/400.0 MiB" in line for line in lines), lines
    assert any("200.0/400.0 MiB" in line for line in lines), lines
    assert not any("ready" in line for line in lines)  # one bar, no line per file
    assert max(len(line) for line in lines) <= 60


def test_push_dir_hashes_under_its_own_word_then_counts_the_upload_anew() -> None:
    out = io.StringIO()
    bars = Bars(out, "pushing", reading="hashing", width=80, terminal=True)
    bars.hashing(10 << 20)
    bars.hashed(10 << 20)
    bars.bars.refresh()
    blob = Descriptor("application/octet-stream", "sha256:" + "2" * 64, 4 << 20)
    bars.start(blob)
    bars.advance(blob, 1 << 20)
    bars.bars.refresh()
    bars.finish()
    lines = _visible(out.getvalue())
    assert any(line.startswith("hashing") and "10.0/10.0 MiB" in line for line in lines), lines
    assert any(line.startswith("pushing") and "1.0/4.0 MiB" in line for line in lines), lines


def test_pack_on_a_terminal_shows_the_bar_and_keeps_stdout_clean(tmp_path: Path, home: Path) -> None:
    model = _model(tmp_path / "m")
    env = {**os.environ, "MODELCRATE_HOME": str(home)}
    code, stdout, shown = on_terminal(["pack", str(model), "-t", "p:1"], env, columns=60)
    assert code == 0, shown
    lines = [line for line in _visible(shown) if not line.startswith("packed ")]
    assert any(line.startswith("packing") and "MiB" in line for line in lines), lines
    assert not any("ready" in line for line in lines) and max(len(line) for line in lines) <= 60
    assert stdout.decode().strip().startswith("sha256:")

    code, stdout, shown = on_terminal(["pack", str(model), "-t", "p:2", "-q"], env)
    assert code == 0 and shown.strip() == ""
    code, stdout, shown = on_terminal(["pack", str(model), "-t", "p:3", "--json"], env)
    assert code == 0 and shown.strip() == ""
    assert json.loads(stdout)["reference"] == "p:3"
