"""Keys: PEM round trips, passwords, per-type hashing, hints, key files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from modelcrate.errors import AlreadyExists, UsageError
from modelcrate.signing import keys

from .conftest import OMS, OMS_KEYS

ALGORITHMS = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072"]
SECRET = b"correct horse battery staple"


@pytest.fixture(scope="module", params=ALGORITHMS)
def key(request: pytest.FixtureRequest) -> keys.PrivateKey:
    return keys.generate(request.param)


def test_pem_round_trip(key: keys.PrivateKey) -> None:
    pem = keys.private_pem(key, SECRET)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = keys.load_private_key(pem, SECRET)
    assert keys.public_pem(loaded) == keys.public_pem(key)
    assert keys.load_public_key(keys.public_pem(key)) == key.public_key()


def test_sign_verify(key: keys.PrivateKey) -> None:
    sig = keys.sign_bytes(key, b"payload")
    assert keys.verify_bytes(key.public_key(), b"payload", sig)
    assert not keys.verify_bytes(key.public_key(), b"payloaD", sig)
    assert not keys.verify_bytes(key.public_key(), b"payload", sig[:-1] + bytes([sig[-1] ^ 1]))
    assert not keys.verify_bytes(keys.generate("ecdsa-p256").public_key(), b"payload", sig)


def test_hash_follows_the_curve() -> None:
    p384 = keys.generate("ecdsa-p384")
    sig = keys.sign_bytes(p384, b"m")
    p384.public_key().verify(sig, b"m", ec.ECDSA(hashes.SHA384()))  # raises if not SHA-384
    p256 = keys.generate("ecdsa-p256")
    p256.public_key().verify(keys.sign_bytes(p256, b"m"), b"m", ec.ECDSA(hashes.SHA256()))


def test_rsa_pkcs1_written_pss_accepted() -> None:
    key = keys.generate("rsa-3072")
    key.public_key().verify(keys.sign_bytes(key, b"m"), b"m", padding.PKCS1v15(), hashes.SHA256())
    pss = key.sign(b"m", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    assert keys.verify_bytes(key.public_key(), b"m", pss)


def test_password_is_required() -> None:
    key = keys.generate("ed25519")
    for bad in (b"", None, "text"):
        with pytest.raises(UsageError, match="non-empty password"):
            keys.private_pem(key, bad)  # type: ignore[arg-type]


def test_wrong_password_is_reported_without_secrets() -> None:
    pem = keys.private_pem(keys.generate(), SECRET)
    with pytest.raises(UsageError) as info:  # the user's input: exit 2, not the signature code
        keys.load_private_key(pem, b"guess-" + SECRET)
    assert str(info.value) == "could not decrypt the private key: wrong password?"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert SECRET.decode() not in repr(info.value)
    with pytest.raises(UsageError, match="a password is needed"):
        keys.load_private_key(pem, None)


def test_unencrypted_and_certtool_pem_load() -> None:
    # model-signing's test key is unencrypted and has a certtool text dump before the PEM block.
    key = keys.load_private_key((OMS_KEYS / "signing-key.pem").read_bytes())
    public = keys.load_public_key((OMS_KEYS / "signing-key-pub.pem").read_bytes())
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    assert keys.public_pem(key) == keys.public_pem(public)
    assert keys.load_private_key((OMS_KEYS / "signing-key.pem").read_bytes(), b"ignored").curve.name == "secp384r1"


def test_key_hint_is_the_oms_convention() -> None:
    public = keys.load_public_key((OMS_KEYS / "signing-key-pub.pem").read_bytes())
    recorded = (OMS / "v1.1.0-elliptic-key" / "model.sig").read_text()
    hint = keys.key_hint(public)
    assert hint == "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"
    assert hint in recorded


def test_garbage_and_unsupported_keys() -> None:
    with pytest.raises(UsageError, match="PEM private key"):
        keys.load_private_key(b"not a key", b"pw")
    with pytest.raises(UsageError, match="PEM public key"):
        keys.load_public_key(b"not a key")
    k1 = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(UsageError, match="unsupported elliptic curve"):
        keys.sign_bytes(k1, b"m")  # type: ignore[arg-type]
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(UsageError, match="too small"):
        keys.load_public_key(_public_pem(small))
    with pytest.raises(UsageError, match="unknown key algorithm"):
        keys.generate("dsa")


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    # keys.public_pem refuses small RSA keys, so serialise this one directly.
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_write_keypair(tmp_path: Path) -> None:
    key = keys.generate()
    key_path, pub_path = keys.write_keypair(tmp_path / "signer", key, SECRET)
    assert (key_path.name, pub_path.name) == ("signer.key", "signer.pub")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert keys.public_pem(keys.load_private_key(key_path.read_bytes(), SECRET)) == pub_path.read_bytes()
    assert SECRET not in key_path.read_bytes()


def test_write_keypair_never_overwrites(tmp_path: Path) -> None:
    keys.write_keypair(tmp_path / "a", keys.generate(), SECRET)
    before = (tmp_path / "a.key").read_bytes()
    with pytest.raises(AlreadyExists):
        keys.write_keypair(tmp_path / "a", keys.generate(), SECRET)
    assert (tmp_path / "a.key").read_bytes() == before
    # A lone .pub blocks too, and no .key is left behind.
    (tmp_path / "b.pub").write_bytes(b"x")
    with pytest.raises(AlreadyExists):
        keys.write_keypair(tmp_path / "b", keys.generate(), SECRET)
    assert not (tmp_path / "b.key").exists()


def test_write_keypair_refuses_symlinked_target(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    os.symlink(target, tmp_path / "c.key")
    with pytest.raises(AlreadyExists):
        keys.write_keypair(tmp_path / "c", keys.generate(), SECRET)
    assert not target.exists()


def test_write_keypair_mode_ignores_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        key_path, _ = keys.write_keypair(tmp_path / "d", keys.generate(), SECRET)
    finally:
        os.umask(old)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
