"""Fixtures for policy tests: key pairs on disk for a release signer and three reviewers, policy files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelcrate import signatures
from modelcrate.signing import keys

# The file from the documentation, exactly as written.
ISSUE_POLICY = """\
stages:
  staging: {}
  production:
    from: [staging]                                   # allowed predecessor stages
    signatures: [{key: keys/release.pub}]             # the package must be signed by one of these
    attestations: [https://slsa.dev/provenance/v1]    # verified attestation types required
    metrics: ["accuracy >= 0.92"]
    approvals: {count: 2, keys: [keys/alice.pub, keys/bob.pub, keys/carol.pub], distinct_from_signer: true}
    promoters: [{key: keys/alice.pub}, {key: keys/bob.pub}]   # who may sign the promotion record
    licenses: [apache-2.0, mit]
"""

PEOPLE = ("release", "alice", "bob", "carol", "dave")


@dataclass(frozen=True)
class People:
    """Private keys by name; public keys written to ``root/keys/NAME.pub``."""

    root: Path
    private: dict[str, keys.PrivateKey]

    def signer(self, name: str) -> signatures.KeySigner:
        return signatures.KeySigner(self.private[name])

    def identity(self, name: str) -> str:
        return signatures.KeyVerifier(self.private[name].public_key()).description


@pytest.fixture(scope="session")
def _keys() -> dict[str, keys.PrivateKey]:
    return {name: keys.generate("ed25519") for name in PEOPLE}


@pytest.fixture
def people(tmp_path: Path, _keys: dict[str, keys.PrivateKey]) -> People:
    (tmp_path / "keys").mkdir()
    for name, key in _keys.items():
        (tmp_path / "keys" / f"{name}.pub").write_bytes(keys.public_pem(key))
    return People(tmp_path, dict(_keys))


@pytest.fixture
def write_policy(people: People) -> Callable[[str], Path]:
    def write(text: str, name: str = "policy.yaml") -> Path:
        path = people.root / name
        path.write_text(text)
        return path

    return write
