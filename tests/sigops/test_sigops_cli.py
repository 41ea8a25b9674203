"""The signing commands as a user runs them: keygen, sign, verify, attest, verify-attestation, discover,
unpack --model-signature. Exit codes, one-line errors, --json, and no secret in any output."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelcrate.cli.main import cli

PASSWORD = "correct horse battery staple"
CMDS = ["keygen", "sign", "verify", "attest", "verify-attestation", "discover"]


@pytest.fixture
def mc(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run the CLI in-process in ``tmp_path`` with the key password in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELCRATE_KEY_PASSWORD", PASSWORD)
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "CI"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        assert PASSWORD not in result.output and PASSWORD not in (result.stderr or "")
        return result

    return run


@pytest.fixture
def signed_example(mc, example: Path) -> str:
    assert mc("pack", str(example), "-t", "tiny:1.0").exit_code == 0
    assert mc("keygen").exit_code == 0
    return "tiny:1.0"


@pytest.mark.parametrize("cmd", CMDS)
def test_help_has_examples(run_cli, cmd: str) -> None:
    r = run_cli(cmd, "--help")
    assert r.returncode == 0 and "Example:" in r.stdout and f"modelcrate {cmd}" in r.stdout


def test_keygen(mc, tmp_path: Path) -> None:
    r = mc("keygen", "--output-key-prefix", "release", "--algorithm", "ed25519")
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE((tmp_path / "release.key").stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "release.key").read_bytes()
    assert (tmp_path / "release.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    again = mc("keygen", "--output-key-prefix", "release")
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_keygen_prompts_twice(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODELCRATE_KEY_PASSWORD", raising=False)
    runner = CliRunner()
    r = runner.invoke(cli, ["keygen"], input="pw1\npw2\npw3\npw3\n")
    assert r.exit_code == 0, r.output
    assert "pw3" not in r.output and (tmp_path / "modelcrate.key").exists()
    r = runner.invoke(cli, ["keygen", "--output-key-prefix", "empty"], input="\n\n")
    assert r.exit_code == 2 and "empty password" in r.output


def test_sign_verify_attest_discover(mc, signed_example: str) -> None:
    r = mc("sign", signed_example, "--key", "modelcrate.key", "--cosign-legacy", "--json")
    assert r.exit_code == 0, r.output
    signed = json.loads(r.stdout)
    assert [s["kind"] for s in signed["stored"]] == ["signature", "model-signing", "cosign-legacy"]
    r = mc("verify", signed_example, "--key", "modelcrate.pub", "--json")
    assert r.exit_code == 0, r.output
    verified = json.loads(r.stdout)["verified"]
    assert {v["kind"] for v in verified} == {"bundle", "cosign"} and verified[0]["signedName"] == "tiny"
    r = mc("verify", signed_example, "--key", "modelcrate.pub")
    assert r.stdout.startswith("Verified OK: tiny@sha256:")

    r = mc("attest", signed_example, "--type", "provenance", "--key", "modelcrate.key")
    assert r.exit_code == 0, r.output
    r = mc("verify-attestation", signed_example, "--type", "provenance", "--key", "modelcrate.pub", "--json")
    assert r.exit_code == 0, r.output
    (prov,) = json.loads(r.stdout)["verified"]
    deps = prov["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert [d["annotations"]["role"] for d in deps] == ["base_model", "dataset", "source"]
    assert prov["predicate"]["runDetails"]["metadata"]["invocationId"] == "run-2025-01-01-001"

    Path("eval.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z", "metrics": [
        {"name": "accuracy", "value": 0.75, "dataset": "holdout"}]}))
    assert mc("attest", signed_example, "--type", "evaluation", "--predicate", "eval.json",
              "--key", "modelcrate.key").exit_code == 0
    r = mc("verify-attestation", signed_example, "--type", "evaluation", "--key", "modelcrate.pub", "--json")
    assert json.loads(r.stdout)["verified"][0]["predicate"]["metrics"][0]["value"] == 0.75

    r = mc("discover", signed_example, "--json")
    tree = json.loads(r.stdout)["referrers"]
    assert sorted(n["kind"] for n in tree) == ["attestation", "attestation", "cosign-signature", "model-signing",
                                               "signature"]
    text = mc("discover", signed_example).stdout
    assert text.startswith("tiny@sha256:") and "├── " in text and "└── " in text


def test_attest_generates_provenance_with_git_facts(mc, signed_example: str, tmp_path: Path) -> None:
    import subprocess

    work = tmp_path / "work"
    work.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "remote", "add", "origin", "https://user:s3cret@git.example.com/m.git"],
                   check=True)
    (work / "train.py").write_text("print(1)\n")
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "x"], check=True)
    (work / "train.py").write_text("print(2)\n")  # dirty
    import os

    os.chdir(work)
    assert mc("attest", signed_example, "--type", "provenance", "--key", "../modelcrate.key").exit_code == 0
    r = mc("verify-attestation", signed_example, "--type", "provenance", "--key", "../modelcrate.pub", "--json")
    deps = json.loads(r.stdout)["verified"][0]["predicate"]["buildDefinition"]["resolvedDependencies"]
    source = deps[-1]
    assert source["uri"] == "git+https://git.example.com/m.git" and "s3cret" not in r.stdout
    assert source["annotations"] == {"role": "build-source", "dirty": True}
    assert len(source["digest"]["gitCommit"]) == 40


@pytest.mark.parametrize(("args", "code", "message"), [
    (["verify", "tiny:1.0", "--key", "modelcrate.pub"], 5, "no signature found for tiny@sha256:"),
    (["verify", "tiny:1.0"], 2, "verify with exactly one of"),
    (["verify", "tiny:1.0", "--key", "modelcrate.pub", "--cert-identity", "a"], 2, "exactly one of"),
    (["verify", "tiny:1.0", "--cert-identity", "a@b"], 2, "both --cert-identity and --cert-oidc-issuer"),
    (["verify", "tiny:1.0", "--key", "modelcrate.pub", "--cert-chain", "modelcrate.pub"], 2, "goes with --ca-roots"),
    (["verify", "tiny:1.0", "--key", "modelcrate.key"], 2, "not a readable PEM public key"),
    (["verify-attestation", "tiny:1.0", "--type", "provenance", "--key", "modelcrate.pub"], 5,
     "no https://slsa.dev/provenance/v1 attestation found"),
    (["sign", "tiny:1.0"], 2, "say how to sign"),
    (["sign", "tiny:1.0", "--keyless", "--key", "modelcrate.key"], 2, "cannot be combined"),
    (["attest", "tiny:1.0", "--type", "https://x/y", "--key", "modelcrate.key"], 2, "needs --predicate"),
    (["verify", "nothing:1.0", "--key", "modelcrate.pub"], 3, "not in the local store"),
])
def test_errors_are_one_line_with_exit_codes(mc, signed_example: str, args: list[str], code: int,
                                             message: str) -> None:
    r = mc(*args)
    assert r.exit_code == code, r.output
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_wrong_password_and_keyless_offline(mc, signed_example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELCRATE_KEY_PASSWORD", "wrong")
    r = mc("sign", signed_example, "--key", "modelcrate.key")
    assert r.exit_code == 2 and "wrong password" in r.stderr  # a usage error, not a failed signature
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", "not-a-token")
    r = mc("sign", signed_example, "--keyless")
    assert r.exit_code == 5 and "not-a-token" not in r.output and len(r.stderr.strip().splitlines()) == 1


def test_policy_violation_exit_code(mc, signed_example: str, tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("version: 1\nsigners: [{key: modelcrate.pub}]\n"
                                          "require: {attestations: [provenance]}\n")
    assert mc("sign", signed_example, "--key", "modelcrate.key").exit_code == 0
    r = mc("verify", signed_example, "--policy", "policy.yaml")
    assert r.exit_code == 6 and "provenance" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert mc("attest", signed_example, "--type", "provenance", "--key", "modelcrate.key").exit_code == 0
    r = mc("verify", signed_example, "--policy", "policy.yaml", "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)["verified"]) == 2


def test_unpack_model_signature(mc, signed_example: str, tmp_path: Path) -> None:
    r = mc("unpack", signed_example, "out", "--model-signature", "out.sig")
    assert r.exit_code == 5 and "no model-signing" in r.stderr and not (tmp_path / "out").exists()
    assert mc("sign", signed_example, "--key", "modelcrate.key").exit_code == 0
    r = mc("unpack", signed_example, "out", "--model-signature", "out.sig", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["modelSignature"]["path"] == "out.sig"
    assert json.loads((tmp_path / "out.sig").read_bytes())["mediaType"].startswith("application/vnd.dev.sigstore")
    r = mc("unpack", signed_example, "out2", "--model-signature", "out.sig")
    assert r.exit_code == 1 and "exists" in r.stderr and not (tmp_path / "out2").exists()
    r = mc("unpack", signed_example, "out3", "--model-signature", "o3.sig", "--filter", "weight")
    assert r.exit_code == 2 and "whole model" in r.stderr


def test_sign_with_certificate(mc, signed_example: str, tmp_path: Path) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import serialization

    from modelcrate.signing import keys
    from tests.signing.conftest import make_pki

    now = dt.datetime.now(dt.UTC)
    pki = make_pki(leaf_not_before=now - dt.timedelta(hours=1), leaf_not_after=now + dt.timedelta(days=1))
    def pem(c):  # type: ignore[no-untyped-def]
        return c.public_bytes(serialization.Encoding.PEM)

    (tmp_path / "leaf.key").write_bytes(keys.private_pem(pki.leaf_key, PASSWORD.encode()))
    (tmp_path / "leaf.crt").write_bytes(pem(pki.leaf))
    (tmp_path / "int.pem").write_bytes(pem(pki.intermediate))
    (tmp_path / "root.pem").write_bytes(pem(pki.root))
    r = mc("sign", signed_example, "--key", "leaf.key", "--cert", "leaf.crt", "--cert-chain", "int.pem")
    assert r.exit_code == 0, r.output
    r = mc("verify", signed_example, "--ca-file", "root.pem", "--cert-chain", "int.pem", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["verified"][0]["signer"] == "certificate CN=model signer"
    r = mc("verify", signed_example, "--ca-file", "root.pem")
    assert r.exit_code == 5 and "does not chain" in r.stderr
