"""`inspect` lists the deployment records of a model: verified with --key or --policy, bounded, and
without anyone to trust only counted as claimed (as `status` shows unverified referrers)."""

from __future__ import annotations

import json
from pathlib import Path

from modelcrate import api, signatures
from modelcrate.lifecycle.gate import NoPolicy
from modelcrate.settings import Settings
from modelcrate.tracking.deployments import of_model

from tests.tracking.test_records_cli import PASSWORD, _ok  # noqa: E402


def _deployed(run_cli, example: Path, tmp_path: Path) -> str:
    for name in ("ops", "eve"):
        _ok(run_cli("keygen", "--output-key-prefix", str(tmp_path / name), env=PASSWORD))
    digest = _ok(run_cli("pack", str(example), "-t", "demo/clf:1.0.0"))
    for env, who, extra in (("prod-eu", "ops", ["--endpoint", "https://clf.example/v1"]), ("staging", "ops", []),
                            ("prod-us", "eve", [])):
        _ok(run_cli("deployment", "record", "demo/clf:1.0.0", "-e", env, "--key", str(tmp_path / f"{who}.key"),
                    *extra, env=PASSWORD))
    return digest


def test_inspect_lists_verified_deployments(run_cli, example: Path, tmp_path: Path) -> None:
    digest = _deployed(run_cli, example, tmp_path)
    ops = str(tmp_path / "ops.pub")

    unverified = json.loads(_ok(run_cli("inspect", "demo/clf:1.0.0", "--json")))["deployments"]
    assert unverified == {"verified": False, "claimed": 3, "omitted": 0, "records": []}
    assert "3 claimed, not verified" in _ok(run_cli("inspect", "demo/clf:1.0.0"))

    shown = json.loads(_ok(run_cli("inspect", "demo/clf:1.0.0", "--json", "--key", ops)))["deployments"]
    assert shown["verified"] and shown["claimed"] == 3 and shown["omitted"] == 0
    assert sorted(r["environment"] for r in shown["records"]) == ["prod-eu", "staging"]  # not eve's
    assert all(r["digest"] == digest and r["event"] == "record" and r["signer"] for r in shown["records"])
    assert [r["time"] for r in shown["records"]] == sorted(r["time"] for r in shown["records"])

    text = _ok(run_cli("inspect", "demo/clf:1.0.0", "--key", ops))
    assert "2 verified" in text and "prod-eu" in text and "https://clf.example/v1" in text and "prod-us" not in text


def test_the_list_is_bounded_to_the_newest(run_cli, example: Path, tmp_path: Path, home: Path) -> None:
    _deployed(run_cli, example, tmp_path)
    repo = api.open_store(Settings(home)).repository("demo/clf")
    desc = repo.resolve("1.0.0")
    ops = signatures.KeyVerifier.from_pem((tmp_path / "ops.pub").read_bytes())
    every = of_model(repo, desc, "demo/clf", NoPolicy(), ops)
    newest = of_model(repo, desc, "demo/clf", NoPolicy(), ops, limit=1)
    assert len(every.records) == 2 and (len(newest.records), newest.omitted) == (1, 1)
    assert newest.records[0] == every.records[-1]


def test_a_model_without_records_says_none(run_cli, example: Path) -> None:
    _ok(run_cli("pack", str(example), "-t", "demo/none:1.0.0"))
    assert json.loads(_ok(run_cli("inspect", "demo/none:1.0.0", "--json")))["deployments"] == {
        "verified": False, "claimed": 0, "omitted": 0, "records": []}
    assert "none recorded" in _ok(run_cli("inspect", "demo/none:1.0.0"))


def test_a_policy_verifies_and_applies_its_deployers(run_cli, example: Path, tmp_path: Path) -> None:
    _deployed(run_cli, example, tmp_path)  # ops: prod-eu and staging; eve: prod-us
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nstages:\n  staging: {}\nenvironments:\n"
                      "  prod-eu: {stage: staging, deployers: [{key: ops.pub}]}\n"
                      "  prod-us: {stage: staging, deployers: [{key: ops.pub}]}\n"
                      "  staging: {stage: staging, deployers: [{key: eve.pub}]}\n")
    shown = json.loads(_ok(run_cli("inspect", "demo/clf:1.0.0", "--json", "--policy", str(policy))))["deployments"]
    # eve's key is read (she may deploy to staging) but not for prod-us; ops may not deploy to staging
    assert shown["verified"] and [r["environment"] for r in shown["records"]] == ["prod-eu"]
