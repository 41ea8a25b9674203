"""modelcrate.yaml and policy files that would crash a naive loader: not UTF-8, nested deeply, a
100,000-digit integer. Each is one error line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcrate import signatures
from modelcrate.errors import InvalidModelfile, UsageError
from modelcrate.format import modelfile

BASE = "name: m\nversion: '1'\nfiles:\n  - {path: w.bin, kind: weight}\n"
HOSTILE = {
    "not-utf8": (b"name: caf\xe9\n", "not UTF-8"),
    "deep-flow": (BASE.encode() + b"metrics: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested more than 64"),
    "deep-block": (BASE.encode() + b"lineage:\n" + b"".join(b" " * (i + 1) + b"k:\n" for i in range(800))
                   + b" " * 801 + b"v\n", "nested more than 64"),
    "huge-int": (BASE.encode() + b"metrics: [{name: a, value: " + b"9" * 100_000 + b"}]\n", "100000-character number"),
}


def _one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc), str(exc)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_modelcrate_yaml_is_one_invalid_modelfile_line(case: str) -> None:
    data, match = HOSTILE[case]
    with pytest.raises(InvalidModelfile, match=match) as info:
        modelfile.parse(data)
    _one_line(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_policy_files_are_one_usage_error_line(case: str, tmp_path: Path) -> None:
    data, match = HOSTILE[case]
    policy = data.replace(BASE.encode(), b"signers: [{key: k.pub}]\n").replace(b"name: caf", b"x: caf")
    policy = policy.replace(b"metrics:", b"require:").replace(b"lineage:", b"require:")
    if case == "huge-int":
        policy = b"version: " + b"9" * 100_000 + b"\nsigners: [{key: k.pub}]\n"
    (tmp_path / "policy.yaml").write_bytes(policy)
    with pytest.raises(UsageError, match=match) as info:
        signatures.load_policy(tmp_path / "policy.yaml")
    _one_line(info.value)


def test_a_quoted_key_with_a_line_break_still_gives_one_line() -> None:
    with pytest.raises(InvalidModelfile) as info:
        modelfile.parse(BASE + '"evil\\nkey": 1\n')
    _one_line(info.value)


def test_cli_exit_code_is_2(tmp_path: Path, run_cli) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "w.bin").write_bytes(b"x")
    (root / "modelcrate.yaml").write_bytes(HOSTILE["huge-int"][0])
    done = run_cli("pack", str(root), "-t", "m:1")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
