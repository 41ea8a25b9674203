"""The installed console script, as a user runs it: exit codes, one-line errors, --json, --help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CMDS = ["init", "pack", "list", "inspect", "unpack", "tag", "rm"]


@pytest.mark.parametrize("cmd", CMDS)
def test_every_command_has_help_with_an_example(run_cli, cmd: str) -> None:
    r = run_cli(cmd, "--help")
    assert r.returncode == 0
    assert "Example:" in r.stdout and f"modelcrate {cmd}" in r.stdout


def test_init_pack_list_inspect_unpack_tag_rm(run_cli, example: Path, tmp_path: Path) -> None:
    (example / "modelcrate.yaml").unlink()
    r = run_cli("init", str(example))
    assert r.returncode == 0, r.stderr
    again = run_cli("init", str(example))
    assert again.returncode != 0 and "exists" in again.stderr and "--force" in again.stderr
    assert run_cli("init", str(example), "--force").returncode == 0

    r = run_cli("pack", str(example), "-t", "team/tiny:1.0", "--json")
    assert r.returncode == 0, r.stderr
    packed = json.loads(r.stdout)
    assert packed["digest"].startswith("sha256:") and len(packed["files"]) == 4

    listed = json.loads(run_cli("list", "--json").stdout)
    assert [(x["name"], x["tag"], x["digest"]) for x in listed] == [("team/tiny", "1.0", packed["digest"])]
    assert "team/tiny" in run_cli("list").stdout

    info = json.loads(run_cli("inspect", "team/tiny:1.0", "--json").stdout)
    assert info["digest"] == packed["digest"] and len(info["files"]) == 4
    assert info["metadata"]["name"] == "tiny-classifier"
    raw = run_cli("inspect", f"team/tiny@{packed['digest']}", "--raw")
    assert __import__("hashlib").sha256(raw.stdout.encode()).hexdigest() == packed["digest"][7:]
    assert "model.safetensors" in run_cli("inspect", "team/tiny:1.0").stdout

    assert run_cli("tag", "team/tiny:1.0", "team/tiny:prod").stdout.strip() == packed["digest"]
    out = tmp_path / "out"
    r = run_cli("unpack", "team/tiny:prod", str(out), "--filter", "weight")
    assert r.returncode == 0, r.stderr
    assert [p.name for p in out.iterdir()] == ["model.safetensors"]

    assert run_cli("rm", "team/tiny:1.0").returncode == 0
    assert [x["tag"] for x in json.loads(run_cli("list", "--json").stdout)] == ["prod"]
    assert run_cli("rm", "team/tiny:prod").returncode == 0
    assert json.loads(run_cli("list", "--json").stdout) == []


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["inspect", "Bad:Ref"], 2, "invalid reference"),
        (["inspect", "nothing:here"], 3, "not in the local store"),
        (["unpack", "nothing:here", "out"], 3, "not in the local store"),
        (["pack", "/no/such/dir", "-t", "m:1"], 2, "is not a directory"),
        (["rm", "nothing:here"], 3, "not in the local store"),
        (["tag", "nothing:here", "x:1"], 3, "not in the local store"),
    ],
)
def test_errors_are_one_line_with_exit_codes(run_cli, args: list[str], code: int, message: str) -> None:
    r = run_cli(*args)
    assert r.returncode == code
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelcrate: error:") and message in lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_bad_yaml_is_one_line_naming_the_line(run_cli, example: Path) -> None:
    (example / "modelcrate.yaml").write_text("name: m\nversion: '1'\nfiles: [\n")
    r = run_cli("pack", str(example), "-t", "m:1")
    assert r.returncode == 2 and "line" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback(run_cli) -> None:
    r = run_cli("--debug", "inspect", "nothing:here")
    assert r.returncode == 3 and "Traceback" in r.stderr


def test_hostile_artifact_refused_by_cli(run_cli, home: Path, tmp_path: Path) -> None:
    from modelcrate.content.layout import LocalStore
    from tests.support.artifacts import Layer, put_model

    put_model(LocalStore(home).repository("evil"), [Layer("../escape.txt", b"x")], tag="1")
    r = run_cli("unpack", "evil:1", str(tmp_path / "out"))
    assert r.returncode != 0 and "'..'" in r.stderr
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out").exists()
