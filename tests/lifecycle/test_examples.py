"""The lifecycle examples stay true: the policy loads as written, the CI workflow is valid YAML naming real
commands, and examples/lifecycle.sh walks the whole lifecycle against its own registry:2."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from modelcrate.lifecycle.policy_gate import PolicyGate
from modelcrate.signing import keys
from tests.support.registry import require_registry

from tests.conftest import cli_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_example_policy_loads(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "policy.yaml", tmp_path / "policy.yaml")
    (tmp_path / "keys").mkdir()
    for who in ("release", "alice", "bob", "carol"):
        (tmp_path / "keys" / f"{who}.pub").write_bytes(keys.public_pem(keys.generate()))
    gate = PolicyGate.load(str(tmp_path / "policy.yaml"))
    assert gate.stages() == ("dev", "staging", "production")
    assert gate.promoters("production") is not None and gate.promoters("staging") is not None
    assert gate.promoters("dev") is None


def test_the_ci_workflow_uses_real_commands() -> None:
    workflow = yaml.safe_load((EXAMPLES / "ci" / "github-actions.yml").read_text())
    steps = [s.get("run", "") for s in workflow["jobs"]["release"]["steps"]]
    commands = {line.split()[1] for run in steps for line in run.splitlines()
                if line.strip().startswith("modelcrate ")}
    assert {"pack", "push", "sign", "attest", "policy", "promote", "resolve"} <= commands
    for command in commands:
        r = subprocess.run([cli_path(), command, "--help"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, command


@pytest.mark.registry
def test_lifecycle_script(tmp_path: Path) -> None:
    env = {**os.environ, "MODELCRATE": cli_path(), "REGISTRY_BIN": require_registry(), "TMPDIR": str(tmp_path)}
    r = subprocess.run([str(EXAMPLES / "lifecycle.sh")], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "lifecycle OK" in r.stdout and "rollback" in r.stdout
    assert "production at " in r.stdout and "approved by key " in r.stdout  # history --at answers who approved
