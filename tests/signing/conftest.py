"""Shared fixtures for the signing tests: fixture paths, a deterministic key, a throw-away X.509 PKI."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "signing"
CONFORMANCE = FIXTURES / "conformance"
GOLDEN = FIXTURES / "golden"
OMS = CONFORMANCE / "model-signing"
OMS_KEYS = OMS / "keys" / "certificate"
SIGSTORE = CONFORMANCE / "sigstore-bundles"
INTOTO = CONFORMANCE / "in-toto"

# Golden inputs: fixed so the golden files can be reproduced exactly.
GOLDEN_SUBJECT = "registry.example.com/models/demo"
GOLDEN_HEX = "f89f9a1af8d8fae4de274822e96399c5aa0a6fee619572661456c1978b6db095"  # sha256(b"modelcrate golden manifest")
GOLDEN_DIGEST = f"sha256:{GOLDEN_HEX}"
# sha256(b"modelcrate golden ed25519 test key"): a PUBLIC test seed, never a real key.
GOLDEN_ED25519_SEED = bytes.fromhex("0eeb660ea9cd7b7bf867d7f0ef56ee55e2ba8cbc773a927d9cabf15251c51ebf")

UTC = dt.UTC
# A fixed "now" inside every test certificate's validity, so no test depends on the clock.
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def golden_ed25519_key() -> ed25519.Ed25519PrivateKey:
    """The deterministic Ed25519 key the golden bundle was signed with."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(GOLDEN_ED25519_SEED)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_files(directory: Path, *names: str) -> list[tuple[str, str]]:
    """(name, sha256) for the named files of a vector directory (or all regular files but model.sig)."""
    chosen = names or tuple(sorted(p.name for p in directory.iterdir() if p.is_file() and p.name != "model.sig"))
    return [(name, sha256_file(directory / name)) for name in chosen]


@dataclass
class Pki:
    """A throw-away CA (optionally with an intermediate) and a code-signing leaf."""

    root: x509.Certificate
    intermediate: x509.Certificate | None
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    def pem(self, cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    @property
    def leaf_der(self) -> bytes:
        return self.leaf.public_bytes(serialization.Encoding.DER)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime, not_after: dt.datetime,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(
    *,
    leaf_not_before: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=UTC),
    leaf_not_after: dt.datetime = dt.datetime(2027, 1, 1, tzinfo=UTC),
    with_intermediate: bool = True,
    digital_signature: bool = True,
    eku: list[x509.ObjectIdentifier] | None = None,
) -> Pki:
    """Build a root (2025-2035), an optional intermediate and an EC P-256 leaf with the given limits."""
    ca_from, ca_to = dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2035, 1, 1, tzinfo=UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca_cert("test root", root_key, "test root", root_key, ca_from, ca_to)
    issuer_name, issuer_key, intermediate = "test root", root_key, None
    if with_intermediate:
        int_key = ec.generate_private_key(ec.SECP256R1())
        intermediate = _ca_cert("test intermediate", int_key, "test root", root_key, ca_from, ca_to)
        issuer_name, issuer_key = "test intermediate", int_key
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("model signer"))
        .issuer_name(_name(issuer_name))
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(leaf_not_before)
        .not_valid_after(leaf_not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage(eku if eku is not None else [ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )
    return Pki(root=root, intermediate=intermediate, leaf=leaf, leaf_key=leaf_key)


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki()


@pytest.fixture
def sigstore_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sigstore-python wants writable cache/data directories; keep them inside the test's tmp dir."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
