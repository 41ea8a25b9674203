"""`scan --json`: every file entry has the same keys, whatever its status (spec/scan.md)."""

from __future__ import annotations

import json
from pathlib import Path

from modelcrate.scan import ERROR, NOT_PICKLE, SAFE_PICKLE, UNSAFE

from .corpus import corpus

KEYS = {"path", "format", "status", "protocol", "globals", "unsafe", "dangerous", "error", "digest"}


def test_every_file_entry_has_every_key(run_cli, tmp_path: Path) -> None:
    model = tmp_path / "mixed"
    model.mkdir()
    for sample in corpus():
        (model / sample.name).write_bytes(sample.data)
    (model / "broken.pkl").write_bytes(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c")  # cut short
    r = run_cli("scan", str(model), "--json")
    assert r.returncode == 6, r.stderr
    files = json.loads(r.stdout)["files"]
    assert {f["status"] for f in files} >= {NOT_PICKLE, SAFE_PICKLE, UNSAFE, ERROR}
    for f in files:
        assert set(f) == KEYS, f
        assert isinstance(f["globals"], list) and isinstance(f["unsafe"], list) and isinstance(f["dangerous"], list)
    plain = next(f for f in files if f["status"] == NOT_PICKLE)
    assert (plain["protocol"], plain["globals"], plain["unsafe"], plain["error"]) == (None, [], [], None)
    broken = next(f for f in files if f["status"] == ERROR)
    assert broken["error"] and broken["unsafe"] == []
