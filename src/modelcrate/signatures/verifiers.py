"""Whose signatures are accepted: a public key, a CA, a keyless identity, or any of several."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Protocol, TypeVar

from ..errors import SignatureError, UsageError
from ..signing import bundle as _bundle
from ..signing import cosign as _cosign
from ..signing import keys
from ..signing import x509 as _x509
from .bundles import now

_T = TypeVar("_T")

# Messages the CLI recognises to add the flags that fix them.
COSIGN_KEY_ONLY = "cosign legacy signatures are checked with a public key only"
KEYLESS_NEEDS_BOTH = "keyless verification needs both an identity and an OIDC issuer"


class Verifier(Protocol):
    """A verification policy for one kind of signer. Raises :class:`SignatureError` with the reason."""

    @property
    def description(self) -> str:
        """The accepted signer, for messages."""
        ...

    def verify_bundle(self, bundle_bytes: bytes) -> tuple[bytes, str]:
        """Check the bundle's signature; return (statement bytes as signed, signer description)."""
        ...

    def verify_cosign(self, payload: bytes, annotations: Mapping[str, str], digest: str) -> str:
        """Check a cosign simple-signing layer for ``digest``; return the signer description."""
        ...


class _Describes:
    def describe(self) -> str:
        """The accepted signer, for messages (the same text as ``description``)."""
        return str(self.description)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class KeyVerifier(_Describes):
    """Accepts signatures by one public key (ECDSA P-256/P-384/P-521, Ed25519, RSA)."""

    public_key: keys.PublicKey = field(repr=False)

    @classmethod
    def from_pem(cls, pem: bytes) -> KeyVerifier:
        return cls(keys.load_public_key(pem))

    @property
    def description(self) -> str:
        return f"key {keys.key_hint(self.public_key)[:16]}"

    def verify_bundle(self, bundle_bytes: bytes) -> tuple[bytes, str]:
        return _bundle.verify_with_key(bundle_bytes, self.public_key), self.description

    def verify_cosign(self, payload: bytes, annotations: Mapping[str, str], digest: str) -> str:
        _cosign.verify_payload(payload, annotations, self.public_key, digest=digest)
        return self.description


@dataclass(frozen=True)
class CAVerifier(_Describes):
    """Accepts certificate-backed signatures whose leaf chains to one of the trusted CAs.

    Key and PKI bundles carry no trusted timestamp, so validity is checked at ``at_time``: the time of
    verification unless given (spec/signatures.md, "Verification rules").
    """

    ca_pem: bytes = field(repr=False)
    chain_pems: tuple[bytes, ...] = field(default=(), repr=False)
    at_time: datetime | None = None

    def __post_init__(self) -> None:
        _x509.load_certificates(self.ca_pem, what="the CA file")
        for pem in self.chain_pems:
            _x509.load_certificates(pem, what="the certificate chain")

    @property
    def description(self) -> str:
        roots = _x509.load_certificates(self.ca_pem, what="the CA file")
        return "certificate chaining to " + ", ".join(_x509.cert_subject(c) for c in roots[:3])

    def verify_bundle(self, bundle_bytes: bytes) -> tuple[bytes, str]:
        statement, leaf = _bundle.verify_with_ca(bundle_bytes, self.ca_pem, self.chain_pems,
                                                 at_time=self.at_time or now())
        return statement, f"certificate {_x509.cert_subject(leaf)}"

    def verify_cosign(self, payload: bytes, annotations: Mapping[str, str], digest: str) -> str:
        raise SignatureError(COSIGN_KEY_ONLY)


@dataclass(frozen=True)
class KeylessVerifier(_Describes):
    """Accepts keyless Sigstore signatures by ``identity`` from ``issuer``, offline against a trusted root.

    ``trusted_root`` defaults to the Sigstore production ``trusted_root.json`` shipped with modelcrate.
    """

    identity: str
    issuer: str
    trusted_root: Path | None = None

    def __post_init__(self) -> None:
        if not self.identity or not self.issuer:
            raise UsageError(KEYLESS_NEEDS_BOTH)

    @property
    def description(self) -> str:
        return f"keyless {self.identity} ({self.issuer})"

    def verify_bundle(self, bundle_bytes: bytes) -> tuple[bytes, str]:
        with _trusted_root_path(self.trusted_root) as root:
            statement = _bundle.verify_keyless(bundle_bytes, identity=self.identity, issuer=self.issuer,
                                               trusted_root_path=root)
        return statement, self.description

    def verify_cosign(self, payload: bytes, annotations: Mapping[str, str], digest: str) -> str:
        raise SignatureError(COSIGN_KEY_ONLY)


@contextlib.contextmanager
def _trusted_root_path(path: Path | None) -> Iterator[Path]:
    if path is not None:
        yield Path(path)
        return
    with resources.as_file(resources.files("modelcrate.signing").joinpath("trust").joinpath("trusted_root.json")) as p:
        yield p


@dataclass(frozen=True)
class AnyOf(_Describes):
    """Accepts what any of ``verifiers`` accepts. Empty is refused: it would accept nothing, silently."""

    verifiers: tuple[Verifier, ...]

    def __post_init__(self) -> None:
        if not self.verifiers:
            raise UsageError("a policy needs at least one signer")

    @property
    def description(self) -> str:
        return " or ".join(v.description for v in self.verifiers)

    def _first(self, check: Callable[[Verifier], _T]) -> _T:
        reasons = []
        for verifier in self.verifiers:
            try:
                return check(verifier)
            except SignatureError as exc:
                reasons.append(str(exc))
        raise SignatureError(" / ".join(dict.fromkeys(reasons)))

    def verify_bundle(self, bundle_bytes: bytes) -> tuple[bytes, str]:
        return self._first(lambda v: v.verify_bundle(bundle_bytes))

    def verify_cosign(self, payload: bytes, annotations: Mapping[str, str], digest: str) -> str:
        return self._first(lambda v: v.verify_cosign(payload, annotations, digest))
