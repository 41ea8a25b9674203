"""The deployment, attachment and metrics commands as a user runs them (the console script, the local
store, real keys)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PASSWORD = {"MODELCRATE_KEY_PASSWORD": "pw-for-tests"}


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_deploy_attach_monitor(run_cli, example: Path, tmp_path: Path) -> None:
    for name in ("ops", "qa"):
        _ok(run_cli("keygen", "--output-key-prefix", str(tmp_path / name), env=PASSWORD))
    ops, qa = str(tmp_path / "ops.key"), str(tmp_path / "qa.key")
    trust = ["--key", str(tmp_path / "ops.pub"), "--key", str(tmp_path / "qa.pub")]
    digest = _ok(run_cli("pack", str(example), "-t", "demo/clf:1.0.0"))
    _ok(run_cli("promote", "demo/clf:1.0.0", "--to", "production", "--key", ops, env=PASSWORD))

    rec = json.loads(_ok(run_cli("deployment", "record", "demo/clf:1.0.0", "-e", "prod-eu", "--endpoint",
                                 "https://clf.example/v1", "--replicas", "2", "--key", ops, "--json", env=PASSWORD)))
    assert rec["stage"] == "production" and rec["digest"] == digest and rec["warnings"] == []
    table = _ok(run_cli("deployments", "demo/clf", *trust))
    assert "prod-eu" in table and "1.0.0" in table and "https://clf.example/v1" in table
    status = json.loads(_ok(run_cli("status", "demo/clf", "--json", *trust)))
    assert status["running"]["prod-eu"]["digest"] == digest
    assert "prod-eu" in _ok(run_cli("status", "demo/clf", *trust))

    report = tmp_path / "validation.md"
    report.write_text("# Validation\n\nAll good.\n")
    _ok(run_cli("attach", "demo/clf:1.0.0", str(report), "--type", "validation-report", "--key", qa, env=PASSWORD))
    listed = json.loads(_ok(run_cli("attachment", "list", "demo/clf:1.0.0", "--json", *trust)))
    assert [a["mediaType"] for a in listed["attachments"]] == ["text/markdown"]
    out = tmp_path / "got.md"
    _ok(run_cli("attachment", "get", "demo/clf:1.0.0", "--type", "validation-report", "-o", str(out), *trust))
    assert out.read_bytes() == report.read_bytes()
    discovered = _ok(run_cli("discover", "demo/clf:1.0.0"))
    assert "application/vnd.modelcrate.attachment.validation-report.v1" in discovered

    _ok(run_cli("attest", "demo/clf:1.0.0", "--type", "evaluation", "--phase", "production", "--metric",
                "accuracy=0.91", "--dataset", "live", "--window", "2026-03-01T00:00:00Z/2026-03-08T00:00:00Z",
                "--key", ops, env=PASSWORD))
    rows = json.loads(_ok(run_cli("metrics", "demo/clf", "--name", "accuracy", "--json", *trust)))["metrics"]
    assert {(r["phase"], r["value"]) for r in rows} >= {("production", 0.91)}
    assert any(r["phase"] == "metadata" for r in rows)
    bad = run_cli("attest", "demo/clf:1.0.0", "--type", "evaluation", "--metric", "accuracy=high", "--dataset", "x",
                  "--key", ops, env=PASSWORD)
    assert bad.returncode == 2 and "NAME=NUMBER" in bad.stderr
    r = run_cli("deployment", "record", "demo/clf:1.0.0", "-e", "Prod EU", "--key", ops, env=PASSWORD)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "environment" in r.stderr


@pytest.mark.registry
def test_pull_with_attachments(run_cli, example: Path, tmp_path: Path, registry, home: Path) -> None:
    _ok(run_cli("keygen", "--output-key-prefix", str(tmp_path / "qa"), env=PASSWORD))
    ref = f"{registry.host}/att/clf:1.0.0"
    _ok(run_cli("push", str(example), ref, "-q"))
    _ok(run_cli("sign", ref, "--key", str(tmp_path / "qa.key"), env=PASSWORD))  # --key on pull checks it
    sbom = tmp_path / "bom.cdx.json"
    sbom.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}\n')
    _ok(run_cli("attach", ref, str(sbom), "--type", "sbom", "--key", str(tmp_path / "qa.key"), env=PASSWORD))
    out = tmp_path / "out"
    _ok(run_cli("pull", ref, "-o", str(out), "--key", str(tmp_path / "qa.pub"), "--with-attachments", "-q"))
    got = out / ".modelcrate-attachments" / "sbom" / "bom.cdx.json"
    assert got.read_bytes() == sbom.read_bytes() and (out / "model.safetensors").exists()
    # Into the local store the documents come along as referrers (their blobs land there too).
    _ok(run_cli("pull", ref, "-q"))
    listed = json.loads(_ok(run_cli("attachment", "list", ref, "--key", str(tmp_path / "qa.pub"), "--json")))
    [doc] = listed["attachments"]
    assert doc["mediaType"] == "application/vnd.cyclonedx+json"
    assert (home / "blobs" / "sha256" / doc["digest"][7:]).read_bytes() == sbom.read_bytes()
    bad = run_cli("pull", ref, "-o", str(tmp_path / "o2"), "--with-attachments")
    assert bad.returncode == 2 and "--with-attachments" in bad.stderr
