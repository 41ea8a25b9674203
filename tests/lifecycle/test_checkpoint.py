"""The checkpoint file: per repository and stage, written atomically, only moved forward, and a damaged file
is an error (never "no checkpoints", which would let a rewritten history through)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from modelcrate.errors import StoreError
from modelcrate.lifecycle.chain import Checkpoint
from modelcrate.lifecycle.checkpoint import FILENAME, Checkpoints

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_remember_and_get(tmp_path: Path) -> None:
    cps = Checkpoints(tmp_path / "state")
    assert cps.get("reg:5000/team/m", "production") is None
    cps.remember("reg:5000/team/m", "production", Checkpoint(D1, 3))
    cps.remember("reg:5000/team/m", "staging", Checkpoint(D2, 1))
    assert cps.get("reg:5000/team/m", "production") == Checkpoint(D1, 3)
    assert cps.get("other", "production") is None
    doc = json.loads((tmp_path / "state" / FILENAME).read_bytes())
    assert doc["version"] == 1 and doc["heads"]["reg:5000/team/m"]["staging"] == {"digest": D2, "sequence": 1}


def test_a_checkpoint_only_moves_forward(tmp_path: Path) -> None:
    cps = Checkpoints(tmp_path)
    cps.remember("m", "production", Checkpoint(D1, 5))
    cps.remember("m", "production", Checkpoint(D2, 4))  # another process was ahead: keep the later head
    assert cps.get("m", "production") == Checkpoint(D1, 5)


@pytest.mark.parametrize("content", [b"{", b"[]", b'{"version": 2, "heads": {}}',
                                     b'{"version": 1, "heads": {"m": {"production": {"digest": "x", "sequence": 1}}}}'])
def test_a_damaged_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / FILENAME).write_bytes(content)
    with pytest.raises(StoreError, match="damaged"):
        Checkpoints(tmp_path).get("m", "production")


def test_concurrent_writers_lose_no_stage(tmp_path: Path) -> None:
    cps = Checkpoints(tmp_path)
    threads = [threading.Thread(target=cps.remember, args=("m", f"s{i}", Checkpoint(D1, 1))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(cps.get("m", f"s{i}") == Checkpoint(D1, 1) for i in range(8))


def test_a_deeply_nested_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(b"[" * 100_000)
    with pytest.raises(StoreError, match="damaged"):
        Checkpoints(tmp_path).get("m", "production")
