"""X.509 helpers for signers and verifiers: load certificates, name their subject, read Fulcio identities.

Pure: bytes in, values out. The Fulcio OIDs are Sigstore's certificate extensions for the OIDC issuer
(v1: raw UTF-8; v2: a DER UTF8String).
"""

from __future__ import annotations

import contextlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from modelcrate.errors import UsageError

_FULCIO_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_FULCIO_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")


def load_certificates(data: bytes, *, what: str) -> list[x509.Certificate]:
    """PEM (one or more) or DER certificates; :class:`UsageError` naming ``what`` when they are neither."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise UsageError(f"{what} is not a PEM or DER X.509 certificate") from None


def load_der(data: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(data)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem_text(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def cert_subject(cert: x509.Certificate) -> str:
    """The subject as RFC 4514 text, for messages."""
    return cert.subject.rfc4514_string() or "(empty subject)"


def fulcio_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer a Fulcio certificate records, or None when it is not a Fulcio certificate."""
    for oid in (_FULCIO_ISSUER_V2, _FULCIO_ISSUER_V1):
        try:
            raw = cert.extensions.get_extension_for_oid(oid).value.value  # type: ignore[attr-defined]
        except (x509.ExtensionNotFound, AttributeError):
            continue
        if oid == _FULCIO_ISSUER_V2:
            raw = der_utf8(raw)
        with contextlib.suppress(UnicodeDecodeError):
            return bytes(raw).decode("utf-8")
    return None


def der_utf8(raw: bytes) -> bytes:
    """The content octets of a DER UTF8String (tag 0x0C); empty when ``raw`` is not one."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return b""
    if raw[1] < 0x80:
        return raw[2:2 + raw[1]]
    n = raw[1] & 0x7F
    return raw[2 + n:2 + n + int.from_bytes(raw[2:2 + n], "big")]


def cert_identity(cert: x509.Certificate) -> str | None:
    """The first e-mail or URI subject alternative name (a keyless signer's identity)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for kind in (x509.RFC822Name, x509.UniformResourceIdentifier):
        values = san.get_values_for_type(kind)
        if values:
            return str(values[0])
    return None
