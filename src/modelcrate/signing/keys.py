"""Signing keys: generate, serialise, load, sign and verify raw bytes.

Supported: ECDSA P-256 / P-384 / P-521, Ed25519 and RSA (2048 bits and up). The hash follows the key,
as Sigstore and OpenSSF model-signing expect: P-256 signs SHA-256, P-384 SHA-384, P-521 SHA-512, RSA
PKCS#1 v1.5 with SHA-256 (PSS is also accepted when verifying), Ed25519 signs the message itself.

Private keys leave this module only as encrypted PKCS#8 PEM. Passwords and key material never appear
in exception messages, and exceptions from ``cryptography`` are not chained (their text is not ours to
vouch for).

Example:

>>> key = generate("ed25519")
>>> verify_bytes(key.public_key(), b"data", sign_bytes(key, b"data"))
True
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from modelcrate.errors import AlreadyExists, UsageError

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
_PRIVATE_TYPES = (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey)

ALGORITHMS = ("ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072")
_EC_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}
_MIN_RSA_BITS = 2048


def generate(algorithm: str = "ecdsa-p256") -> PrivateKey:
    """Generate a new private key; ``algorithm`` is one of :data:`ALGORITHMS`.

    >>> generate("ecdsa-p256").curve.name
    'secp256r1'
    """
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise UsageError(f"unknown key algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")


def _check_supported(key: PrivateKey | PublicKey) -> None:
    # One place that decides which keys we sign and verify with, for both halves of a pair.
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if key.curve.name not in _EC_HASHES:
            raise UsageError(f"unsupported elliptic curve {key.curve.name}; use P-256, P-384 or P-521")
    elif isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size < _MIN_RSA_BITS:
            raise UsageError(f"RSA key of {key.key_size} bits is too small; use {_MIN_RSA_BITS} bits or more")
    elif not isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        raise UsageError("unsupported key type; use ECDSA (P-256, P-384, P-521), Ed25519 or RSA")


def private_pem(key: PrivateKey, password: bytes) -> bytes:
    """Serialise ``key`` as PKCS#8 PEM encrypted with ``password`` (required, non-empty).

    >>> private_pem(generate("ed25519"), b"pw").startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    True
    """
    _check_supported(key)
    if not isinstance(password, bytes) or not password:
        raise UsageError("a non-empty password is required to write a private key")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )


def public_pem(key: PrivateKey | PublicKey) -> bytes:
    """PEM SubjectPublicKeyInfo of a public key, or of a private key's public half.

    >>> public_pem(generate()).startswith(b"-----BEGIN PUBLIC KEY-----")
    True
    """
    public = key.public_key() if isinstance(key, _PRIVATE_TYPES) else key
    _check_supported(public)
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(pem: bytes, password: bytes | None = None) -> PrivateKey:
    """Load a PEM private key, decrypting it with ``password`` when it is encrypted.

    A wrong password raises ``UsageError("could not decrypt the private key: wrong password?")``.

    >>> key = generate("ed25519")
    >>> load_private_key(private_pem(key, b"pw"), b"pw").public_key() == key.public_key()
    True
    """
    try:
        key: object = serialization.load_pem_private_key(pem, password=password or None)
    except TypeError:
        # Either a password is missing for an encrypted key, or one was given for a plain key.
        if not password:
            # A missing or wrong password is the user's input, not a failed signature (exit 2, not 5).
            raise UsageError("the private key is encrypted: a password is needed") from None
        key = _load_unencrypted(pem)
    except ValueError:
        if password and b"ENCRYPTED" in pem:
            raise UsageError("could not decrypt the private key: wrong password?") from None
        raise UsageError("not a readable PEM private key") from None
    except UnsupportedAlgorithm:
        raise UsageError("unsupported private key type or encryption") from None
    if not isinstance(key, _PRIVATE_TYPES):
        raise UsageError("unsupported key type; use ECDSA (P-256, P-384, P-521), Ed25519 or RSA")
    _check_supported(key)
    return key


def _load_unencrypted(pem: bytes) -> object:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        raise UsageError("not a readable PEM private key") from None


def load_public_key(pem: bytes) -> PublicKey:
    """Load a PEM public key (SubjectPublicKeyInfo): ECDSA P-256/P-384/P-521, Ed25519 or RSA.

    Text before the PEM block (as ``certtool`` writes it) is ignored.

    >>> key = generate()
    >>> load_public_key(public_pem(key)) == key.public_key()
    True
    """
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise UsageError("not a readable PEM public key") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)):
        raise UsageError("unsupported key type; use ECDSA (P-256, P-384, P-521), Ed25519 or RSA")
    _check_supported(key)
    return key


def sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data`` with the hash that goes with ``key`` (ECDSA signatures are ASN.1 DER).

    >>> len(sign_bytes(generate("ed25519"), b"x"))
    64
    """
    _check_supported(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(_EC_HASHES[key.curve.name]()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def verify_bytes(public_key: PublicKey, data: bytes, sig: bytes) -> bool:
    """True when ``sig`` is a valid signature of ``data`` by ``public_key``; never raises for a bad one.

    >>> key = generate()
    >>> verify_bytes(key.public_key(), b"x", sign_bytes(key, b"y"))
    False
    """
    _check_supported(public_key)
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(sig, data, ec.ECDSA(_EC_HASHES[public_key.curve.name]()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            _verify_rsa(public_key, data, sig)
        else:
            public_key.verify(sig, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def _verify_rsa(public_key: rsa.RSAPublicKey, data: bytes, sig: bytes) -> None:
    # We write PKCS#1 v1.5; other tools write PSS (SHA-256, MGF1-SHA-256). Accept either.
    try:
        public_key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        public_key.verify(sig, data, pss, hashes.SHA256())


def key_hint(public_key: PrivateKey | PublicKey) -> str:
    """Hex SHA-256 of the key's PEM SubjectPublicKeyInfo (as ``cryptography`` writes it).

    This is the ``verificationMaterial.publicKey.hint`` that OpenSSF model-signing writes (checked
    against its v1.1.0 key vector); modelcrate uses the same hint in its own bundles.

    >>> len(key_hint(generate()))
    64
    """
    return hashlib.sha256(public_pem(public_key)).hexdigest()


def write_keypair(prefix: Path, key: PrivateKey, password: bytes) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (encrypted, mode 0600) and ``PREFIX.pub``; refuse to overwrite either.

    The key file is created with ``O_CREAT | O_EXCL`` and mode 0600, so it never exists with looser
    permissions, not even for a moment.

    >>> import shutil, tempfile; d = Path(tempfile.mkdtemp())
    >>> key_path, pub_path = write_keypair(d / "signer", generate(), b"pw")
    >>> oct(key_path.stat().st_mode & 0o777), pub_path.name
    ('0o600', 'signer.pub')
    >>> shutil.rmtree(d)
    """
    prefix = Path(prefix)
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    for path in (key_path, pub_path):
        if path.exists() or path.is_symlink():
            raise AlreadyExists(f"{path} already exists; not overwriting a key file")
    private_bytes = private_pem(key, password)
    public_bytes = public_pem(key)
    _write_new(key_path, private_bytes, 0o600)
    try:
        _write_new(pub_path, public_bytes, 0o644)
    except BaseException:
        key_path.unlink(missing_ok=True)  # never leave half a pair behind
        raise
    return key_path, pub_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise AlreadyExists(f"{path} already exists; not overwriting a key file") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
