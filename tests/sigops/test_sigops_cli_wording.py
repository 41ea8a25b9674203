"""The library words missing inputs without naming flags; the CLI names the flag that supplies them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcrate import signatures
from modelcrate.cli.wording import flag_wording
from modelcrate.errors import SignatureError, UsageError
from tests.sigops.test_sigops_cli import mc, signed_example  # noqa: F401 - fixtures

SRC = Path(__file__).resolve().parents[2] / "src" / "modelcrate"


@pytest.mark.parametrize(("args", "message"), [
    (["sign", "tiny:1.0", "--key", "modelcrate.key", "--cert-chain", "modelcrate.pub"], "--cert-chain needs --cert"),
    (["verify", "tiny:1.0", "--cert-oidc-issuer", "https://x"], "both --cert-identity and --cert-oidc-issuer"),
])
def test_cli_names_the_flag(mc, signed_example: str, args: list[str], message: str) -> None:  # noqa: F811
    r = mc(*args)
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cosign_legacy_keyless_names_key(mc, signed_example: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", "not-a-real-token")
    r = mc("sign", signed_example, "--keyless", "--cosign-legacy")
    assert r.exit_code == 2 and "--cosign-legacy needs --key" in r.stderr and "not-a-real-token" not in r.stderr


def test_evaluation_without_metrics_names_predicate() -> None:
    with pytest.raises(UsageError) as info:
        signatures.evaluation_from_metadata({}, created=signatures.bundles.now())
    assert "--" not in str(info.value)
    assert "--predicate FILE" in str(flag_wording(info.value))


def test_attest_builds_provenance_in_the_library(mc, signed_example: str) -> None:  # noqa: F811
    r = mc("attest", signed_example, "--type", "provenance", "--key", "modelcrate.key", "--json")
    assert r.exit_code == 0, r.output
    r = mc("verify-attestation", signed_example, "--type", "provenance", "--key", "modelcrate.pub", "--json")
    predicate = json.loads(r.stdout)["verified"][0]["predicate"]
    assert predicate["buildDefinition"]["buildType"] == "https://modelcrate.dev/buildtypes/model/v1"


def test_flag_wording_rewrites_embedded_phrases_only() -> None:
    inner = SignatureError(f"no valid signature (1 checked: x: {signatures.verifiers.COSIGN_KEY_ONLY})")
    assert "checked with --key only" in str(flag_wording(inner))
    plain = UsageError("could not decrypt the private key: wrong password?")
    assert flag_wording(plain) is plain


def test_library_messages_name_no_flags() -> None:
    """No string literal in the signatures package names a CLI flag."""
    import ast
    import re

    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    found = []
    for path in (SRC / "signatures").rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found += [f"{path.name}: {m}" for m in flag.findall(node.value)]
    assert not found, found


def test_unpack_model_signature_names_its_flags(mc, signed_example: str, tmp_path: Path) -> None:  # noqa: F811
    assert mc("sign", signed_example, "--key", "modelcrate.key").exit_code == 0
    (tmp_path / "taken.sig").write_bytes(b"x")
    r = mc("unpack", signed_example, "out", "--model-signature", "taken.sig")
    assert r.exit_code == 1 and "use --force to overwrite it" in r.stderr
    r = mc("unpack", signed_example, "out", "--model-signature", "o.sig", "--filter", "weight")
    assert r.exit_code == 2 and "drop --filter and --include" in r.stderr
    assert not (tmp_path / "out").exists()
