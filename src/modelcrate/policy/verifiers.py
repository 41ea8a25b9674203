"""The one verifier a policy needs beyond :mod:`modelcrate.signatures`: an X.509 CA plus the leaf's identity.

A bank's PKI issues certificates to many people under one CA; "signed by someone with a certificate from
our CA" is not "approved by Alice". :class:`CAIdentityVerifier` accepts a bundle only when its leaf chains
to the CA (checked by :func:`modelcrate.signing.bundle.verify_with_ca`) AND names ``identity`` exactly, as
a SAN e-mail address, a SAN URI or the RFC 4514 subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509

from ..errors import SignatureError
from ..signatures.verifiers import COSIGN_KEY_ONLY, CAVerifier
from ..signing import bundle as _bundle
from ..signing import x509 as _x509


def certificate_identities(cert: x509.Certificate) -> list[str]:
    """Every identity a leaf names: SAN e-mail addresses and URIs, then its RFC 4514 subject."""
    out: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for kind in (x509.RFC822Name, x509.UniformResourceIdentifier):
            out.extend(str(v) for v in san.get_values_for_type(kind))
    except x509.ExtensionNotFound:
        pass
    return [*out, _x509.cert_subject(cert)]


@dataclass(frozen=True)
class CAIdentityVerifier:
    """Accepts certificate-backed bundles chaining to ``ca`` whose leaf names ``identity``."""

    ca: CAVerifier
    identity: str
    at_time: datetime | None = field(default=None)

    @property
    def description(self) -> str:
        return f"certificate {self.identity}"

    def verify_bundle(self, bundle_bytes: bytes) -> tuple[bytes, str]:
        statement, leaf = _bundle.verify_with_ca(bundle_bytes, self.ca.ca_pem, self.ca.chain_pems,
                                                 at_time=self.at_time or datetime.now(UTC))
        names = certificate_identities(leaf)
        if self.identity not in names:
            raise SignatureError(f"certificate names {', '.join(names) or 'nobody'}, not {self.identity}")
        return statement, self.description

    def verify_cosign(self, payload: bytes, annotations: Mapping[str, str], digest: str) -> str:
        raise SignatureError(COSIGN_KEY_ONLY)
