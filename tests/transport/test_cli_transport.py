"""The registry commands as a user runs them: stdout carries the digest or JSON, stderr the summary, and
progress bars appear only on a terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import cli_path
from tests.support.registry import RegistryProcess
from tests.support.terminal import on_terminal
from tests.transport.conftest import model_files, write_model

COMMANDS = ["push", "pull", "copy", "tags", "catalog", "login", "logout"]
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(run_cli: Run, command: str) -> None:
    done = run_cli(command, "--help")
    assert done.returncode == 0 and "Example:" in done.stdout and "modelcrate " + command in done.stdout


def test_push_and_pull_print_the_digest_and_a_summary(registry: RegistryProcess, repo: str, run_cli: Run,
                                                      tmp_path: Path, docker_config: Path) -> None:
    root = write_model(tmp_path / "m", {"w.bin": b"\0" + os.urandom(3_000_000), "c.json": b"{}"})  # no pickle warning
    ref = f"{registry.host}/{repo}:1"
    done = run_cli("push", str(root), ref)
    assert done.returncode == 0, done.stderr
    digest = done.stdout.strip()
    assert digest.startswith("sha256:") and len(digest) == 71
    assert done.stderr.startswith(f"pushed {ref}: 4 copied") and "\x1b[" not in done.stderr  # no bars off a TTY
    again = run_cli("push", str(root), ref, "--json")
    summary = json.loads(again.stdout)
    assert summary["digest"] == digest and summary["copied"] == 0 and again.stderr == ""
    quiet = run_cli("pull", ref, "-q")
    assert quiet.returncode == 0 and quiet.stdout.strip() == digest and quiet.stderr == ""
    out = tmp_path / "out"
    done = run_cli("pull", f"{registry.host}/{repo}@{digest}", "-o", str(out))
    assert done.returncode == 0 and done.stdout.strip() == digest
    assert model_files(out) == model_files(root)
    assert run_cli("pull", ref, "-o", str(out)).returncode == 0  # the same bytes are in place already
    first = sorted(out.iterdir())[0]
    first.write_bytes(b"changed")
    assert run_cli("pull", ref, "-o", str(out)).returncode == 1  # other bytes: refused without --force
    assert run_cli("pull", ref, "-o", str(out), "--force").returncode == 0
    assert run_cli("tags", f"{registry.host}/{repo}").stdout == "1\n"
    assert json.loads(run_cli("tags", f"{registry.host}/{repo}", "--json").stdout) == ["1"]
    assert f"{repo}\n" in run_cli("catalog", registry.host).stdout
    copied = run_cli("copy", ref, f"{registry.host}/{repo}/copy", "--json")
    assert json.loads(copied.stdout)["mounted"] == 3 and json.loads(copied.stdout)["reference"].endswith(":1")


def test_progress_bars_only_on_a_terminal(registry: RegistryProcess, repo: str, tmp_path: Path,
                                          docker_config: Path, home: Path) -> None:
    root = write_model(tmp_path / "m", {"w.bin": os.urandom(4_000_000)})
    env = {**os.environ, "MODELCRATE_HOME": str(home), "DOCKER_CONFIG": str(docker_config)}
    code, stdout, text = on_terminal(["push", str(root), f"{registry.host}/{repo}:1"], env, columns=80, timeout=30)
    assert code == 0 and stdout.decode().startswith("sha256:")
    assert "pushing" in text and "MiB" in text and re.search(r"done\s+w\.bin", text)  # see tests/cli/test_progress.py
    assert "pushed " in text  # the summary follows the bars
    quiet = subprocess.run([cli_path(), "push", str(root), f"{registry.host}/{repo}:2", "-q"],
                           capture_output=True, env=env, timeout=60)
    assert quiet.stderr == b""


@pytest.mark.parametrize("args, needle", [
    (["push", "a", "b", "c"], "push takes REF, or DIR REF"),
    (["push", "no-registry/name:1"], "names no registry"),
    (["pull", "localhost:1/x:1", "--include", "*.bin"], "go with -o DIR"),  # --force alone: a version-tag overwrite
    (["push", "localhost:1/x:1", "--plain-http", "--insecure"], "cannot be combined"),
    (["login", "localhost:1", "-u", "me"], "pass --password-stdin"),
    (["catalog", "localhost:1/x"], "is not a registry host"),
    (["copy", "localhost:1/x:1", "localhost:1/y@sha256:" + "0" * 64], "not a digest"),
])
def test_usage_errors_are_one_line_with_exit_code_2(run_cli: Run, args: list[str], needle: str) -> None:
    done = run_cli(*args, input="")
    assert done.returncode == 2 and needle in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("given, expected", [((), 4), (("--concurrency", "7"), 7)])
def test_pull_o_passes_concurrency_to_pull_to_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  docker_config: Path, given: tuple[str, ...], expected: int) -> None:
    from click.testing import CliRunner

    from modelcrate import transfer
    from modelcrate.cli.main import cli

    seen: dict[str, object] = {}

    def pull_to_dir(ref: str, out_dir: str, **kwargs: object) -> transfer.TransferResult:
        seen.update(kwargs)
        return transfer.TransferResult(reference=ref, digest="sha256:" + "0" * 64, media_type="x", size=0)

    monkeypatch.setattr(transfer, "pull_to_dir", pull_to_dir)
    done = CliRunner().invoke(cli, ["pull", "localhost:1/x:1", "-o", str(tmp_path / "out"), "-q", *given])
    assert done.exit_code == 0, done.output
    assert seen["concurrency"] == expected


def test_a_plain_pull_o_loads_no_signing_schema_or_yaml_code(registry: RegistryProcess, repo: str, run_cli: Run,
                                                             tmp_path: Path, docker_config: Path) -> None:
    """Without --key or --policy a pull -o needs neither the signing stack nor the metadata's JSON Schema
    validator nor YAML (each costs tens of milliseconds of start-up before the first byte)."""
    root = write_model(tmp_path / "m", {"w.bin": b"\0" + os.urandom(2_000_000), "c.json": b"{}"})
    ref = f"{registry.host}/{repo}:1"
    assert run_cli("push", str(root), ref).returncode == 0
    out = tmp_path / "out"
    code = ("import sys, json\nfrom modelcrate.cli.main import cli\n"
            f"try:\n    cli(['pull', {ref!r}, '-o', {str(out)!r}, '-q'], prog_name='modelcrate')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DOCKER_CONFIG": str(docker_config)})
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert model_files(out) == model_files(root)
    assert not {m for m in loaded if m.split(".")[0] in ("cryptography", "sigstore", "jsonschema", "yaml")
                or m.startswith(("modelcrate.signatures", "modelcrate.signing.bundle", "modelcrate.signing.keys"))}
