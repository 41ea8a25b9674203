"""Policy files for serving platforms: any-of signers, all-of attestations, fail closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcrate import signatures
from modelcrate.errors import PolicyViolation, SignatureError, UsageError
from modelcrate.signing import keys

from .conftest import CREATED, cert_signer, pem


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def key_files(tmp_path: Path, ec_key, other_key) -> Path:
    (tmp_path / "release.pub").write_bytes(keys.public_pem(ec_key))
    (tmp_path / "other.pub").write_bytes(keys.public_pem(other_key))
    return tmp_path


POLICY = """\
version: 1
signers:
  - key: other.pub
  - key: release.pub
require:
  signature: true
  attestations: [provenance, https://example.com/review/v1]
"""


def test_policy_met_and_unmet(model, ec_key, key_files: Path) -> None:
    repo, desc = model
    policy = signatures.load_policy(_write(key_files, POLICY))
    assert policy.attestations == ("https://slsa.dev/provenance/v1", "https://example.com/review/v1")
    signer = signatures.KeySigner(ec_key)
    with pytest.raises(PolicyViolation) as info:
        signatures.check_policy(repo, desc, repo.name, policy)
    text = str(info.value)
    assert "no signature found" in text and "no https://slsa.dev/provenance/v1 attestation found" in text
    assert info.value.exit_code == 6
    signatures.sign(repo, desc, repo.name, signer, created=CREATED, model_signing=False)
    prov = {"buildDefinition": {"buildType": "t", "externalParameters": {}}, "runDetails": {"builder": {"id": "b"}}}
    signatures.attest(repo, desc, repo.name, signer, "provenance", prov, created=CREATED)
    with pytest.raises(PolicyViolation, match=r"review/v1 attestation found") as info:
        signatures.check_policy(repo, desc, repo.name, policy)
    assert "no signature found" not in str(info.value)  # only what is missing is listed
    signatures.attest(repo, desc, repo.name, signer, "https://example.com/review/v1", {"ok": True}, created=CREATED)
    result = signatures.check_policy(repo, desc, repo.name, policy)
    assert len(result.signatures) == 1 and set(result.attestations) == set(policy.attestations)
    assert len(result.all()) == 3


def test_attestation_by_a_signer_outside_the_policy_does_not_count(model, key_files: Path) -> None:
    repo, desc = model
    stranger = signatures.KeySigner(keys.generate())
    signatures.sign(repo, desc, repo.name, stranger, created=CREATED, model_signing=False)
    policy = signatures.load_policy(_write(key_files, "version: 1\nsigners: [{key: release.pub}]\n"))
    with pytest.raises(PolicyViolation, match="no valid signature by key"):
        signatures.check_policy(repo, desc, repo.name, policy)


def test_policy_with_ca_and_keyless_signers(model, key_files: Path, sigstore_dirs) -> None:
    import datetime as dt

    from tests.signing.conftest import make_pki

    now = dt.datetime.now(dt.UTC)  # a policy checks certificates at the current time
    pki = make_pki(leaf_not_before=now - dt.timedelta(days=1), leaf_not_after=now + dt.timedelta(days=1))
    repo, desc = model
    (key_files / "root.pem").write_bytes(pem(pki.root))
    (key_files / "int.pem").write_bytes(pem(pki.intermediate))
    policy = signatures.load_policy(_write(key_files, """\
version: 1
signers:
  - keyless: {identity: someone@example.com, issuer: https://accounts.example.com}
  - ca: root.pem
    chain: [int.pem]
require: {signature: true}
"""))
    assert isinstance(policy.signers.verifiers[0], signatures.KeylessVerifier)
    signatures.sign(repo, desc, repo.name, cert_signer(pki), created=CREATED, model_signing=False)
    (found,) = signatures.check_policy(repo, desc, repo.name, policy).signatures
    assert found.signer == "certificate CN=model signer"


@pytest.mark.parametrize(("text", "message"), [
    ("version: 2\nsigners: [{key: release.pub}]\n", ":1: version: must be 1"),
    ("version: 1\nsigners: []\n", ":2: signers: [] should be non-empty"),
    ("version: 1\nsigners: [{kye: release.pub}]\n", ":2: unknown key 'signers.0.kye'"),
    ("version: 1\nsigners: [{key: release.pub, ca: x.pem}]\n", ":2: signers.0: needs exactly one of key, ca, keyless"),
    ("version: 1\nsigners: [{key: release.pub, chain: x.pem}]\n", ":2: signers.0: needs exactly one of key, ca, keyless"),
    ("version: 1\nsigners: [{key: missing.pub}]\n", ":2: signers.0.key: cannot read"),
    ("version: 1\nsigners: [{keyless: {identity: a}}]\n", ":2: signers.0.keyless: 'issuer' is a required property"),
    ("version: 1\nsigners: [{key: release.pub}]\nrequire: {signature: false}\n", ":3: require: requires nothing"),
    ("version: 1\nsigners: [{key: release.pub}]\nrequire: {signature: yes please}\n",
     ":3: require.signature: 'yes please' is not of type 'boolean'"),
    ("version: 1\nsigners: [{key: release.pub}]\nrequire: {attestations: provenance}\n",
     ":3: require.attestations: 'provenance' is not of type 'array'"),
    ("version: 1\nsigners: [{key: release.pub}]\nextra: 1\n", ":3: unknown key 'extra'"),
    ("[1, 2", ":1: not valid YAML"),
    ("- just a list\n", ":1: expected a mapping"),
    ("stages: {production: {}}\n", "has no signers section"),
])
def test_bad_policy_files(key_files: Path, text: str, message: str) -> None:
    """One error line: the file, the line and the key (the policy file's one loader)."""
    with pytest.raises(UsageError) as info:
        signatures.load_policy(_write(key_files, text))
    assert str(info.value).startswith(str(key_files / "policy.yaml")) and message in str(info.value)


def test_attestation_only_policy(model, ec_key, key_files: Path) -> None:
    repo, desc = model
    policy = signatures.load_policy(_write(key_files, """\
version: 1
signers: [{key: release.pub}]
require: {signature: false, attestations: [evaluation]}
"""))
    evaluation = {"created": "2026-01-01T00:00:00Z", "metrics": [{"name": "a", "value": 1, "dataset": "d"}]}
    signatures.attest(repo, desc, repo.name, signatures.KeySigner(ec_key), "evaluation", evaluation, created=CREATED)
    result = signatures.check_policy(repo, desc, repo.name, policy)
    assert result.signatures == () and len(result.attestations["https://modelcrate.dev/evaluation/v1"]) == 1


def test_verify_before_pull_wraps_the_refusal(model, ec_key, key_files: Path) -> None:
    repo, desc = model
    with pytest.raises(SignatureError, match="^refusing to pull: no signature found"):
        signatures.verify_before_pull(repo, desc, repo.name, signatures.KeyVerifier(ec_key.public_key()))
    policy = signatures.load_policy(_write(key_files, "version: 1\nsigners: [{key: release.pub}]\n"))
    with pytest.raises(PolicyViolation, match="^refusing to pull: .*policy.yaml is not satisfied"):
        signatures.verify_before_pull(repo, desc, repo.name, policy)
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED, model_signing=False)
    assert len(signatures.verify_before_pull(repo, desc, repo.name, policy)) == 1


def test_empty_any_of_is_refused() -> None:
    with pytest.raises(UsageError, match="at least one signer"):
        signatures.AnyOf(())
