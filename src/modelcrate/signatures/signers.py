"""Who signs: a private key (optionally with an X.509 certificate) or keyless Sigstore."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import SignatureError, UsageError
from ..signing import bundle as _bundle
from ..signing import cosign as _cosign
from ..signing import keys
from ..signing import oms as _oms
from ..signing import x509 as _x509

COSIGN_CERT_ANNOTATION = "dev.sigstore.cosign/certificate"
COSIGN_CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
SIGSTORE_OIDC_URL = "https://oauth2.sigstore.dev/auth"

# Messages the CLI recognises to add the flag that fixes them (the library does not know its flags).
CHAIN_WITHOUT_CERT = "a certificate chain needs the signing certificate"
COSIGN_NEEDS_KEY = "cosign legacy signatures need a private key: keyless ones need a Rekor bundle annotation"
NO_OIDC_TOKEN = "keyless signing needs an OIDC token: set SIGSTORE_ID_TOKEN"


class Signer(Protocol):
    """Who signs: turns statement bytes into a Sigstore bundle (and OMS / cosign signatures where it can)."""

    @property
    def description(self) -> str:
        """Who this is, for output: ``key <hint>``, ``certificate CN=…``, ``keyless``."""
        ...

    def sign_statement(self, statement: bytes) -> bytes:
        """A Sigstore bundle (JSON bytes) over the statement."""
        ...

    def sign_oms(self, files: Sequence[tuple[str, str]], *, model_name: str, ignore_paths: Sequence[str]) -> bytes:
        """An OMS bundle over ``files``; raises :class:`UsageError` when this signer cannot make one."""
        ...

    def cosign_annotations(self, payload: bytes) -> dict[str, str]:
        """Layer annotations of a cosign simple-signing signature; :class:`UsageError` when unsupported."""
        ...


@dataclass(frozen=True)
class KeySigner:
    """Signs with a private key, optionally with an X.509 certificate (and intermediates) for that key."""

    key: keys.PrivateKey = field(repr=False)
    cert_der: bytes | None = field(default=None, repr=False)
    chain_ders: tuple[bytes, ...] = field(default=(), repr=False)

    @classmethod
    def from_pem(cls, key_pem: bytes, password: bytes | None, *, cert: bytes | None = None,
                 chain: bytes | None = None) -> KeySigner:
        """Load an (encrypted) PEM private key; ``cert``/``chain`` are PEM or DER certificate files' bytes."""
        key = keys.load_private_key(key_pem, password)
        if chain is not None and cert is None:
            raise UsageError(CHAIN_WITHOUT_CERT)
        cert_der = None
        chain_ders: tuple[bytes, ...] = ()
        if cert is not None:
            leaf = _x509.load_certificates(cert, what="the signing certificate")[0]
            if keys.public_pem(leaf.public_key()) != keys.public_pem(key):  # type: ignore[arg-type]
                raise UsageError("the signing certificate is for another key than the private key")
            cert_der = _x509.der(leaf)
            if chain is not None:
                chain_ders = tuple(_x509.der(c) for c in _x509.load_certificates(chain, what="the certificate chain"))
        return cls(key, cert_der, chain_ders)

    @property
    def description(self) -> str:
        if self.cert_der is not None:
            return f"certificate {_x509.cert_subject(_x509.load_der(self.cert_der))}"
        return f"key {keys.key_hint(self.key)[:16]}"

    def sign_statement(self, statement: bytes) -> bytes:
        return _bundle.sign_statement(statement, self.key, cert_der=self.cert_der)

    def sign_oms(self, files: Sequence[tuple[str, str]], *, model_name: str, ignore_paths: Sequence[str]) -> bytes:
        chain = [self.cert_der, *self.chain_ders] if self.cert_der is not None else None
        return _oms.sign_oms(files, self.key, model_name=model_name, ignore_paths=ignore_paths, cert_chain_der=chain)

    def cosign_annotations(self, payload: bytes) -> dict[str, str]:
        annotations = _cosign.sign_payload(payload, self.key)
        if self.cert_der is not None:
            # cosign's own keys for a certificate-backed signature: leaf and chain as PEM text.
            annotations[COSIGN_CERT_ANNOTATION] = _x509.pem_text(_x509.load_der(self.cert_der))
            if self.chain_ders:
                annotations[COSIGN_CHAIN_ANNOTATION] = "".join(_x509.pem_text(_x509.load_der(d))
                                                               for d in self.chain_ders)
        return annotations


@dataclass(frozen=True)
class KeylessSigner:
    """Signs keyless through Sigstore (Fulcio certificate for an OIDC identity, Rekor entry). Needs network."""

    identity_token: str = field(repr=False)
    staging: bool = False
    trust_config: Path | None = None

    @property
    def description(self) -> str:
        return "keyless (Sigstore)"

    def sign_statement(self, statement: bytes) -> bytes:
        return _bundle.sign_keyless(statement, identity_token=self.identity_token, staging=self.staging,
                                    trust_config_path=self.trust_config)

    def sign_oms(self, files: Sequence[tuple[str, str]], *, model_name: str, ignore_paths: Sequence[str]) -> bytes:
        # An OMS keyless bundle is a Sigstore DSSE bundle over the OMS statement: the same call.
        return self.sign_statement(_oms.build_oms_statement(files, model_name=model_name, ignore_paths=ignore_paths))

    def cosign_annotations(self, payload: bytes) -> dict[str, str]:
        raise UsageError(COSIGN_NEEDS_KEY)


def identity_token(env: Mapping[str, str], *, interactive: bool = True) -> str:
    """An OIDC identity token for keyless signing: ``SIGSTORE_ID_TOKEN``, else the browser flow.

    The token is a credential: it is returned, never logged, and no error message quotes it.
    """
    token = env.get("SIGSTORE_ID_TOKEN")
    if token:
        return token
    if not interactive:
        raise UsageError(NO_OIDC_TOKEN)
    try:
        from sigstore.oidc import Issuer

        return str(Issuer(SIGSTORE_OIDC_URL).identity_token())
    except Exception as exc:  # noqa: BLE001 - network, browser, user abort: one failure to the caller
        raise SignatureError(
            f"could not get an OIDC identity token from {SIGSTORE_OIDC_URL} ({type(exc).__name__})",
            hint="set SIGSTORE_ID_TOKEN, or sign offline with a key",
        ) from None
