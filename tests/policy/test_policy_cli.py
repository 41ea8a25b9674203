"""approve, reject and policy check through the installed CLI against a real registry:2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modelcrate.signing import keys
from tests.support.artifacts import write_model

from .conftest import ISSUE_POLICY, People

pytestmark = pytest.mark.registry
PASSWORD = "pw-for-policy-tests"
METRICS = "metrics: [{name: accuracy, value: 0.95, dataset: holdout}]\n"


@pytest.fixture
def key_files(people: People) -> dict[str, Path]:
    out = {}
    for name in ("release", "alice", "carol"):
        (people.root / "private").mkdir(exist_ok=True)
        key_path, _pub = keys.write_keypair(people.root / "private" / name, people.private[name], PASSWORD.encode())
        out[name] = key_path
    return out


@pytest.fixture
def cli(run_cli, people: People, tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(*args: str):  # type: ignore[no-untyped-def]
        return run_cli(*args, env={"MODELCRATE_KEY_PASSWORD": PASSWORD, "DOCKER_CONFIG": str(tmp_path / "docker")},
                       cwd=people.root)

    return run


def test_approvals_and_policy_check_on_a_registry(registry, cli, people: People, key_files, write_policy,
                                                  request: pytest.FixtureRequest) -> None:
    repo = "policy/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:60]
    ref = f"{registry.host}/{repo}:1.0"
    model = write_model(people.root / "model", {"model.safetensors": b"w" * 4096}, extra=METRICS)
    policy = write_policy(ISSUE_POLICY)
    assert cli("push", str(model), ref).returncode == 0
    assert cli("sign", ref, "--key", str(key_files["release"])).returncode == 0
    assert cli("attest", ref, "--type", "provenance", "--key", str(key_files["release"])).returncode == 0
    check = ("policy", "check", ref, "--stage", "production", "--policy", str(policy),
             "--promoter-key", str(people.root / "keys" / "bob.pub"))

    refused = cli(*check)
    assert refused.returncode == 6, refused.stderr
    assert "  FAIL  approvals 2: 0 of 2 approvals for production" in refused.stdout
    assert "  FAIL  from staging: the model must be in staging first" in refused.stdout
    assert re.search(r"  pass  signatures: signed by key [0-9a-f]{16}  \[sha256:[0-9a-f]{64}\]", refused.stdout)
    assert refused.stderr.count("\n") == 1 and f"{ref} may not enter production: 2 rule(s) failed" in refused.stderr

    for who in ("alice", "carol"):
        done = cli("approve", ref, "--stage", "production", "--key", str(key_files[who]), "--comment", "reviewed")
        assert done.returncode == 0, done.stderr
        assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", done.stdout) and f"as {people.identity(who)}" in done.stderr
    assert cli("copy", ref, f"{registry.host}/{repo}:staging").returncode == 0

    passed = cli(*check, "--json")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    report = json.loads(passed.stdout)
    assert report["allowed"] is True and report["stage"] == "production"
    rules = {r["rule"]: r for r in report["rules"]}
    assert {r["status"] for r in report["rules"]} == {"pass"}
    assert len(rules["approvals 2"]["evidence"]) == 2 and rules["signatures"]["evidence"]
    assert report["policyDigest"].startswith("sha256:")

    rejected = cli("reject", ref, "--stage", "production", "--key", str(key_files["carol"]), "--comment", "bias",
                   "--json")
    assert rejected.returncode == 0 and json.loads(rejected.stdout)["decision"] == "reject"
    blocked = cli(*check)
    assert blocked.returncode == 6
    assert f"  FAIL  rejections: rejected by {people.identity('carol')}" in blocked.stdout


def test_a_malformed_policy_is_one_error_line(cli, people: People, write_policy) -> None:
    model = write_model(people.root / "model", {"model.safetensors": b"w" * 64})
    assert cli("pack", str(model), "-t", "team/m:1.0").returncode == 0
    bad = write_policy(ISSUE_POLICY.replace("count: 2", "count: 4"))
    result = cli("policy", "check", "team/m:1.0", "--stage", "production", "--policy", str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"modelcrate: error: {bad}:8: stages.production.approvals.count: needs 4 approvals "
                             "but only 3 approvers are listed\n")


def test_approve_needs_a_key_and_a_valid_stage(cli, people: People, key_files) -> None:
    model = write_model(people.root / "model", {"model.safetensors": b"w" * 64})
    assert cli("pack", str(model), "-t", "team/m:1.0").returncode == 0
    no_key = cli("approve", "team/m:1.0", "--stage", "production")
    assert no_key.returncode == 2 and "--key" in no_key.stderr
    bad_stage = cli("approve", "team/m:1.0", "--stage", "../prod", "--key", str(key_files["alice"]))
    assert bad_stage.returncode == 2 and "not a valid stage name" in bad_stage.stderr
    assert PASSWORD not in no_key.stderr + bad_stage.stderr
