"""Sigstore bundles (v0.3) holding a DSSE envelope over an in-toto statement.

Three ways to sign and verify:

* **key**: ``verificationMaterial = {"publicKey": {"hint": key_hint}, "tlogEntries": []}``. The hint only
  names the key; the verifier's own public key decides.
* **X.509 (private PKI)**: ``{"certificate": {"rawBytes": <base64 DER leaf>}, "tlogEntries": []}``, the
  v0.3 form, which carries only the leaf. Intermediates come from the caller at verify time.
  Bundles written by other tools with ``x509CertificateChain`` (leaf first, then intermediates, as
  OpenSSF model-signing does) verify too; bundled intermediates only help build the path, trust
  comes from the caller's CA bundle.
* **keyless (Sigstore)**: delegated to ``sigstore-python``, offline against a ``trusted_root.json``.

There is no transparency log for key and PKI bundles (``tlogEntries`` is empty and ignored).

Verification returns the statement bytes exactly as signed. They say nothing about *which* model
until :func:`check_statement` has matched the subject digest and predicate type.

Example:

>>> from modelcrate.signing import keys
>>> from modelcrate.signing.statement import build_statement
>>> key = keys.generate("ed25519")
>>> stmt = build_statement([("r", {"sha256": "ab" * 32})], "signature", {})
>>> verify_with_key(sign_statement(stmt, key), key.public_key()) == stmt
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509 import verification

from modelcrate.errors import SignatureError, UsageError
from modelcrate.format import canonical
from modelcrate.signing import keys
from modelcrate.signing.dsse import INTOTO_PAYLOAD_TYPE, Envelope, Signature, b64decode, b64encode
from modelcrate.signing.statement import check_statement, loads_strict, parse_statement
from modelcrate.signing.x509 import load_certificates

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_KNOWN_MEDIA_TYPES = frozenset(
    {
        BUNDLE_MEDIA_TYPE,
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
    }
)

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "assemble_bundle",
    "check_statement",
    "sign_envelope",
    "sign_keyless",
    "sign_statement",
    "unverified_statement_of",
    "verify_envelope",
    "verify_keyless",
    "verify_keyless_artifact",
    "verify_with_ca",
    "verify_with_key",
]


# --- building --------------------------------------------------------------------------------------


def sign_envelope(payload: bytes, key: keys.PrivateKey, *, payload_type: str = INTOTO_PAYLOAD_TYPE) -> Envelope:
    """Sign ``payload`` (DSSE over PAE) and wrap it in an envelope with an empty key id."""
    envelope = Envelope(payload=bytes(payload), payload_type=payload_type, signatures=())
    signature = Signature(sig=keys.sign_bytes(key, envelope.pae()), keyid="")
    return Envelope(payload=envelope.payload, payload_type=payload_type, signatures=(signature,))


def assemble_bundle(verification_material: Mapping[str, Any], envelope: Envelope) -> bytes:
    """A v0.3 bundle around ``envelope`` as canonical JSON; the payload travels as base64, untouched."""
    return canonical.dumps(
        {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": dict(verification_material),
            "dsseEnvelope": envelope.to_dict(),
        }
    )


def _certificate_material(cert_der: bytes, key: keys.PrivateKey) -> dict[str, Any]:
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except ValueError:
        raise UsageError("the signing certificate is not a DER X.509 certificate") from None
    if keys.public_pem(cert.public_key()) != keys.public_pem(key):  # type: ignore[arg-type]
        raise UsageError("the signing certificate is for another key than the one signing")
    return {"certificate": {"rawBytes": b64encode(cert_der)}, "tlogEntries": []}


def sign_statement(statement_bytes: bytes, key: keys.PrivateKey, *, cert_der: bytes | None = None) -> bytes:
    """Sign an in-toto statement; returns the Sigstore bundle v0.3 as canonical JSON bytes.

    With ``cert_der`` (the DER leaf certificate for ``key``) the bundle carries the certificate,
    otherwise the key's hint. The statement bytes are signed as given, never re-serialised.
    """
    try:
        parse_statement(statement_bytes)
    except SignatureError as exc:
        raise UsageError(f"refusing to sign: {exc}") from None
    envelope = sign_envelope(statement_bytes, key)
    if cert_der is None:
        material: dict[str, Any] = {"publicKey": {"hint": keys.key_hint(key)}, "tlogEntries": []}
    else:
        material = _certificate_material(cert_der, key)
    return assemble_bundle(material, envelope)


# --- reading ---------------------------------------------------------------------------------------


def _load(bundle_bytes: bytes) -> tuple[Mapping[str, Any], Envelope]:
    obj = loads_strict(bundle_bytes, what="bundle")
    if not isinstance(obj, Mapping):
        raise SignatureError("bundle is not a JSON object")
    if obj.get("mediaType") not in _KNOWN_MEDIA_TYPES:
        raise SignatureError(f"unsupported bundle media type {obj.get('mediaType')!r}")
    if "dsseEnvelope" not in obj:
        if "messageSignature" in obj:
            raise SignatureError("bundle holds a plain message signature, not a DSSE attestation")
        raise SignatureError("bundle has no dsseEnvelope")
    envelope = Envelope.from_dict(obj["dsseEnvelope"])
    if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise SignatureError(f"DSSE payload type is {envelope.payload_type!r}, not {INTOTO_PAYLOAD_TYPE}")
    material = obj.get("verificationMaterial")
    if not isinstance(material, Mapping):
        raise SignatureError("bundle has no verificationMaterial")
    return obj, envelope


def unverified_statement_of(bundle_bytes: bytes) -> bytes:
    """The statement bytes inside a bundle, WITHOUT checking any signature. For display only.

    Never base a decision on this; use a ``verify_*`` function and :func:`check_statement`.
    """
    return _load(bundle_bytes)[1].payload


def verify_envelope(envelope: Envelope, public_key: keys.PublicKey) -> bool:
    """True when any signature in ``envelope`` verifies over its PAE with ``public_key``."""
    pae_bytes = envelope.pae()
    return any(keys.verify_bytes(public_key, pae_bytes, s.sig) for s in envelope.signatures)


def _verified_payload(envelope: Envelope) -> bytes:
    # Even a valid signature over something that is not a statement is not an attestation.
    parse_statement(envelope.payload, require_predicate=False)
    return envelope.payload


# --- key -------------------------------------------------------------------------------------------


def verify_with_key(bundle_bytes: bytes, public_key: keys.PublicKey) -> bytes:
    """Verify a bundle's DSSE signature with ``public_key``; returns the statement bytes as signed.

    Raises :class:`SignatureError` with the reason when the bundle is malformed or the signature does
    not verify. Follow with :func:`check_statement`.
    """
    obj, envelope = _load(bundle_bytes)
    if not verify_envelope(envelope, public_key):
        raise SignatureError(_key_failure_reason(obj["verificationMaterial"], public_key))
    return _verified_payload(envelope)


def _key_failure_reason(material: Mapping[str, Any], public_key: keys.PublicKey) -> str:
    public_key_material = material.get("publicKey")
    hint = public_key_material.get("hint") if isinstance(public_key_material, Mapping) else None
    ours = keys.key_hint(public_key)
    if isinstance(hint, str) and hint and hint != ours:
        return f"signature does not verify: the bundle names key {hint[:16]}…, the given key is {ours[:16]}…"
    return "signature does not verify with the given key (wrong key, or the payload was altered)"


# --- X.509 -----------------------------------------------------------------------------------------


def _bundle_certificates(material: Mapping[str, Any]) -> tuple[x509.Certificate, list[x509.Certificate]]:
    if isinstance(material.get("certificate"), Mapping):
        raw = [material["certificate"].get("rawBytes")]
    elif isinstance(material.get("x509CertificateChain"), Mapping):
        raw = [c.get("rawBytes") if isinstance(c, Mapping) else None
               for c in material["x509CertificateChain"].get("certificates") or []]
    else:
        raise SignatureError("bundle carries no certificate (it is not an X.509-signed bundle)")
    if not raw:
        raise SignatureError("bundle certificate chain is empty")
    try:
        certs = [x509.load_der_x509_certificate(b64decode(r, what="certificate")) for r in raw]
    except ValueError:
        raise SignatureError("bundle certificate is not a DER X.509 certificate") from None
    return certs[0], certs[1:]


def _check_validity(cert: x509.Certificate, at_time: datetime) -> None:
    if at_time < cert.not_valid_before_utc:
        raise SignatureError(f"signing certificate is not valid before {cert.not_valid_before_utc.isoformat()}")
    if at_time > cert.not_valid_after_utc:
        raise SignatureError(f"signing certificate expired on {cert.not_valid_after_utc.isoformat()}")


def _check_leaf_usage(cert: x509.Certificate) -> None:
    # Only checked when present: a private PKI may omit them, but if it restricts the key we obey.
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.digital_signature:
        raise SignatureError("signing certificate's key usage does not allow digital signatures")
    try:
        extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        extended = None
    if extended is not None and x509.oid.ExtendedKeyUsageOID.CODE_SIGNING not in extended:
        raise SignatureError("signing certificate's extended key usage does not include code signing")


def _verify_chain(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate], at_time: datetime
) -> None:
    # Web PKI rules for the CAs; the leaf policy is relaxed because code-signing leaves of private PKIs
    # (model-signing's test PKI among them) carry no SAN and may even assert cA. Usage is checked after.
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(roots))
        .time(at_time)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        raise SignatureError(f"signing certificate does not chain to a trusted CA: {exc}") from None


def verify_with_ca(
    bundle_bytes: bytes,
    ca_bundle_pem: bytes,
    chain_pems: Iterable[bytes] = (),
    *,
    at_time: datetime,
) -> tuple[bytes, x509.Certificate]:
    """Verify an X.509-signed bundle against trusted CAs; returns (statement bytes, leaf certificate).

    ``ca_bundle_pem`` holds the trust anchors, ``chain_pems`` any intermediates (PEM, one or more per
    item). The chain and the leaf's validity are checked at ``at_time`` (timezone-aware), the leaf's
    key usage must allow digital signatures and its extended key usage, when present, code signing.
    """
    if at_time.tzinfo is None or at_time.utcoffset() is None:
        raise UsageError("at_time must be timezone-aware")
    obj, envelope = _load(bundle_bytes)
    leaf, bundled = _bundle_certificates(obj["verificationMaterial"])
    roots = load_certificates(ca_bundle_pem, what="the CA bundle")
    intermediates = bundled + [c for pem in chain_pems for c in load_certificates(pem, what="a chain file")]
    _check_validity(leaf, at_time)
    _verify_chain(leaf, intermediates, roots, at_time)
    _check_leaf_usage(leaf)
    try:
        public_key = leaf.public_key()
        ok = verify_envelope(envelope, public_key)  # type: ignore[arg-type]
    except UsageError as exc:
        raise SignatureError(f"signing certificate has an unusable key: {exc}") from None
    if not ok:
        raise SignatureError("signature does not verify with the certificate's key (the payload was altered?)")
    return _verified_payload(envelope), leaf


# --- keyless (Sigstore) ----------------------------------------------------------------------------


def _require_identity(identity: str, issuer: str) -> None:
    # Keyless without both checks would accept anyone who can get a Fulcio certificate.
    if not identity or not issuer:
        raise UsageError("keyless verification needs both the expected identity and the OIDC issuer")


def _sigstore_context(bundle_bytes: bytes, trusted_root_path: Path | str) -> tuple[Any, Any]:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier

    try:
        root = TrustedRoot.from_file(str(trusted_root_path))
    except OSError:
        raise UsageError(f"cannot read the trusted root {trusted_root_path}") from None
    except (SigstoreError, ValueError):
        raise UsageError(f"{trusted_root_path} is not a Sigstore trusted_root.json") from None
    try:
        bundle = Bundle.from_json(bundle_bytes)
    except (SigstoreError, ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"not a valid Sigstore bundle: {_one_line(exc)}") from None
    try:
        verifier = Verifier(trusted_root=root)
    except (SigstoreError, ValueError) as exc:
        raise UsageError(f"unusable trusted root: {_one_line(exc)}") from None
    return verifier, bundle


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def verify_keyless(bundle_bytes: bytes, *, identity: str, issuer: str, trusted_root_path: Path | str) -> bytes:
    """Verify a keyless Sigstore DSSE bundle offline; returns the statement bytes as signed.

    Checks the Fulcio chain, the transparency log entry or timestamps, the certificate's identity
    (SAN) and OIDC issuer, and the DSSE signature, all with ``sigstore-python`` against
    ``trusted_root_path``. Every failure becomes :class:`SignatureError`.
    """
    from sigstore.verify.policy import Identity

    _require_identity(identity, issuer)
    verifier, bundle = _sigstore_context(bundle_bytes, trusted_root_path)
    try:
        payload_type, payload = verifier.verify_dsse(bundle, Identity(identity=identity, issuer=issuer))
    except Exception as exc:  # noqa: BLE001 - fail closed: whatever sigstore raises, nothing was verified
        raise SignatureError(f"keyless verification failed: {_one_line(exc)}") from None
    if payload_type != INTOTO_PAYLOAD_TYPE:
        raise SignatureError(f"DSSE payload type is {payload_type!r}, not {INTOTO_PAYLOAD_TYPE}")
    return _verified_payload(Envelope(payload=payload, payload_type=payload_type, signatures=()))


def verify_keyless_artifact(
    bundle_bytes: bytes, artifact: bytes, *, identity: str, issuer: str, trusted_root_path: Path | str
) -> None:
    """Verify a keyless Sigstore message-signature bundle over ``artifact`` offline (no statement)."""
    from sigstore.verify.policy import Identity

    _require_identity(identity, issuer)
    verifier, bundle = _sigstore_context(bundle_bytes, trusted_root_path)
    try:
        verifier.verify_artifact(bytes(artifact), bundle, Identity(identity=identity, issuer=issuer))
    except Exception as exc:  # noqa: BLE001 - fail closed, as above
        raise SignatureError(f"keyless verification failed: {_one_line(exc)}") from None


def sign_keyless(
    statement_bytes: bytes,
    *,
    identity_token: str,
    staging: bool = False,
    trust_config_path: Path | str | None = None,
) -> bytes:
    """Sign a statement keyless with Sigstore (Fulcio certificate + Rekor entry); returns bundle JSON.

    Needs network access to the Sigstore instance: production by default, staging with
    ``staging=True``, or the one a ClientTrustConfig file at ``trust_config_path`` names. The token is
    a credential, so no error message repeats it or chains an exception that could.
    """
    try:
        parse_statement(statement_bytes)
    except SignatureError as exc:
        raise UsageError(f"refusing to sign: {exc}") from None
    from sigstore import dsse as sigstore_dsse
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    try:
        token = IdentityToken(identity_token)
    except Exception:  # noqa: BLE001 - any parse failure; its text may quote the token
        raise SignatureError("the identity token is not a usable OIDC token (malformed or expired)") from None
    try:
        if trust_config_path is not None:
            config = ClientTrustConfig.from_json(Path(trust_config_path).read_text(encoding="utf-8"))
        else:
            config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
        context = SigningContext.from_trust_config(config)
        with context.signer(token, cache=False) as signer:
            bundle = signer.sign_dsse(sigstore_dsse.Statement(bytes(statement_bytes)))
    except Exception as exc:  # noqa: BLE001 - network, TUF, Fulcio, Rekor: all one failure to the caller
        raise SignatureError(
            f"keyless signing failed ({type(exc).__name__})",
            hint="keyless signing needs network access to Fulcio and Rekor; use a key or certificate offline",
        ) from None
    return bundle.to_json().encode("utf-8")

