"""Signatures and attestations on any Target: sign, attest, verify, discover (spec/signatures.md).

Every signature or attestation is a Sigstore bundle v0.3 (a DSSE envelope over an in-toto Statement v1
whose subject is the model's manifest digest) stored as a referrer manifest of the model
(:func:`modelcrate.content.referrers.attach`). ``sign`` also stores an OpenSSF model-signing (OMS v1.0)
bundle over the model's files, and on request cosign's legacy simple-signing image at ``sha256-<hex>.sig``.

Verification fails closed. A candidate counts only when (1) its signature verifies under the caller's
policy and (2) the signed statement names this manifest digest and the wanted predicate type
(:func:`~modelcrate.signing.statement.check_statement`). Index entries and annotations only decide what
to try, never what to accept. No candidate at all, or none that passes, raises
:class:`~modelcrate.errors.SignatureError` naming why each one failed.

Operations take Targets and plain values, return plain values and never print.

Example:

>>> from modelcrate.content.memory import MemoryStore          # doctest: +SKIP
>>> signer = KeySigner(keys.generate())                         # doctest: +SKIP
>>> sign(target, model_desc, "team/bert", signer, created=now)  # doctest: +SKIP
>>> verify(target, model_desc, "team/bert", KeyVerifier(signer.key.public_key()))[0].signer  # doctest: +SKIP
'key 3b1f…'
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ._internal.fsutil import atomic_write
from ._internal.inputs import MAX_SMALL_FILE, read_regular_file
from .content import referrers as _referrers
from .content.referrers import Referrer
from .content.target import TagLocker, Target
from .content.verify import read_all
from .errors import (
    AlreadyExists,
    InvalidManifest,
    ModelcrateError,
    NotFound,
    PolicyViolation,
    SignatureError,
    UsageError,
)
from .format import digest as _digest
from .format.descriptor import Descriptor, parse_manifest
from .format.mediatypes import ANN_CREATED, MAX_MANIFEST_BYTES, OCI_MANIFEST
from .format.model import ModelView, read_model
from .signing import bundle as _bundle
from .signing import cosign as _cosign
from .signing import keys
from .signing import oms as _oms
from .signing import predicates as _predicates
from .signing import statement as _statement
from .signing.dsse import b64decode

BUNDLE_MEDIA_TYPE = _bundle.BUNDLE_MEDIA_TYPE
ANN_BUNDLE_CONTENT = "dev.sigstore.bundle.content"
ANN_PREDICATE_TYPE = "dev.sigstore.bundle.predicateType"
SIGNATURE_TYPE = _statement.SIGNATURE_V1
OMS_PREDICATE_TYPE = _oms.OMS_PREDICATE_TYPE
COSIGN_CERT_ANNOTATION = "dev.sigstore.cosign/certificate"
COSIGN_CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
OMS_TITLE = "model.sig"
SIGSTORE_OIDC_URL = "https://oauth2.sigstore.dev/auth"
MAX_BUNDLE_BYTES = MAX_MANIFEST_BYTES
_FULCIO_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_FULCIO_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_KNOWN_BUNDLE_TYPES = (BUNDLE_MEDIA_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3")
_DISCOVER_DEPTH = 4
_REASONS_SHOWN = 5
_T = TypeVar("_T")


def _now() -> datetime:
    return datetime.now(UTC)


def _created_text(created: datetime) -> str:
    return _predicates.timestamp(created.astimezone(UTC).replace(microsecond=0))


def _short(digest: str) -> str:
    return digest[:19] + "…" if digest.startswith("sha256:") else digest


# --- signers ---------------------------------------------------------------------------------------


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


def _load_certificates(data: bytes, *, what: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise UsageError(f"{what} is not a PEM or DER X.509 certificate") from None


def _cert_subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


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
            raise UsageError("--cert-chain needs --cert (the signing certificate)")
        cert_der = None
        chain_ders: tuple[bytes, ...] = ()
        if cert is not None:
            leaf = _load_certificates(cert, what="the signing certificate")[0]
            if keys.public_pem(leaf.public_key()) != keys.public_pem(key):  # type: ignore[arg-type]
                raise UsageError("the signing certificate is for another key than --key")
            cert_der = leaf.public_bytes(serialization.Encoding.DER)
            if chain is not None:
                chain_ders = tuple(c.public_bytes(serialization.Encoding.DER)
                                   for c in _load_certificates(chain, what="the certificate chain"))
        return cls(key, cert_der, chain_ders)

    @property
    def description(self) -> str:
        if self.cert_der is not None:
            return f"certificate {_cert_subject(x509.load_der_x509_certificate(self.cert_der))}"
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
            leaf = x509.load_der_x509_certificate(self.cert_der)
            annotations[COSIGN_CERT_ANNOTATION] = leaf.public_bytes(serialization.Encoding.PEM).decode("ascii")
            if self.chain_ders:
                annotations[COSIGN_CHAIN_ANNOTATION] = "".join(
                    x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM).decode("ascii")
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
        raise UsageError("--cosign-legacy needs --key: keyless legacy signatures need a Rekor bundle annotation")


def identity_token(env: Mapping[str, str], *, interactive: bool = True) -> str:
    """An OIDC identity token for keyless signing: ``SIGSTORE_ID_TOKEN``, else the browser flow.

    The token is a credential: it is returned, never logged, and no error message quotes it.
    """
    token = env.get("SIGSTORE_ID_TOKEN")
    if token:
        return token
    if not interactive:
        raise UsageError("keyless signing needs an OIDC token: set SIGSTORE_ID_TOKEN")
    try:
        from sigstore.oidc import Issuer

        return str(Issuer(SIGSTORE_OIDC_URL).identity_token())
    except Exception as exc:  # noqa: BLE001 - network, browser, user abort: one failure to the caller
        raise SignatureError(
            f"could not get an OIDC identity token from {SIGSTORE_OIDC_URL} ({type(exc).__name__})",
            hint="set SIGSTORE_ID_TOKEN, or sign offline with --key",
        ) from None


# --- verifiers -------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class KeyVerifier:
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
class CAVerifier:
    """Accepts certificate-backed signatures whose leaf chains to one of the trusted CAs.

    Key and PKI bundles carry no trusted timestamp, so validity is checked at ``at_time``: the time of
    verification unless given (spec/signatures.md, "Verification rules").
    """

    ca_pem: bytes = field(repr=False)
    chain_pems: tuple[bytes, ...] = field(default=(), repr=False)
    at_time: datetime | None = None

    def __post_init__(self) -> None:
        _load_certificates(self.ca_pem, what="the CA file")
        for pem in self.chain_pems:
            _load_certificates(pem, what="the certificate chain")

    @property
    def description(self) -> str:
        roots = _load_certificates(self.ca_pem, what="the CA file")
        return "certificate chaining to " + ", ".join(_cert_subject(c) for c in roots[:3])

    def verify_bundle(self, bundle_bytes: bytes) -> tuple[bytes, str]:
        statement, leaf = _bundle.verify_with_ca(bundle_bytes, self.ca_pem, self.chain_pems,
                                                 at_time=self.at_time or _now())
        return statement, f"certificate {_cert_subject(leaf)}"

    def verify_cosign(self, payload: bytes, annotations: Mapping[str, str], digest: str) -> str:
        raise SignatureError("cosign legacy signatures are checked with --key only")


@dataclass(frozen=True)
class KeylessVerifier:
    """Accepts keyless Sigstore signatures by ``identity`` from ``issuer``, offline against a trusted root.

    ``trusted_root`` defaults to the Sigstore production ``trusted_root.json`` shipped with modelcrate.
    """

    identity: str
    issuer: str
    trusted_root: Path | None = None

    def __post_init__(self) -> None:
        if not self.identity or not self.issuer:
            raise UsageError("keyless verification needs both --cert-identity and --cert-oidc-issuer")

    @property
    def description(self) -> str:
        return f"keyless {self.identity} ({self.issuer})"

    def verify_bundle(self, bundle_bytes: bytes) -> tuple[bytes, str]:
        with _trusted_root_path(self.trusted_root) as root:
            statement = _bundle.verify_keyless(bundle_bytes, identity=self.identity, issuer=self.issuer,
                                               trusted_root_path=root)
        return statement, self.description

    def verify_cosign(self, payload: bytes, annotations: Mapping[str, str], digest: str) -> str:
        raise SignatureError("cosign legacy signatures are checked with --key only")


@contextlib.contextmanager
def _trusted_root_path(path: Path | None) -> Any:
    if path is not None:
        yield Path(path)
        return
    with resources.as_file(resources.files("modelcrate.signing").joinpath("trust").joinpath("trusted_root.json")) as p:
        yield p


@dataclass(frozen=True)
class AnyOf:
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


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """Something ``sign`` or ``attest`` wrote: its kind, the referrer (or tag) and predicate type."""

    kind: str
    descriptor: Descriptor
    predicate_type: str | None = None
    tag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "digest": self.descriptor.digest}
        if self.predicate_type:
            out["predicateType"] = self.predicate_type
        if self.tag:
            out["tag"] = self.tag
        return out


@dataclass(frozen=True)
class SignResult:
    """What ``sign`` did: the subject digest, what it stored, and notes (e.g. why OMS was skipped)."""

    digest: str
    stored: tuple[Stored, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verified:
    """One signature or attestation that passed every check."""

    kind: str  # "bundle" or "cosign"
    referrer: str  # digest of the referrer manifest (the .sig manifest for cosign)
    predicate_type: str
    signer: str
    created: str | None
    signed_name: str | None
    statement: _statement.Statement | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "referrer": self.referrer, "predicateType": self.predicate_type,
                               "signer": self.signer, "created": self.created, "signedName": self.signed_name}
        if self.statement is not None and self.statement.predicate:
            out["predicate"] = self.statement.predicate
        return out


# --- reading referrers -----------------------------------------------------------------------------


def _bundle_of(target: Target, referrer: Referrer) -> bytes:
    layers = referrer.manifest.layers
    if len(layers) != 1 or layers[0].media_type not in _KNOWN_BUNDLE_TYPES:
        raise SignatureError("referrer is not a single Sigstore bundle layer")
    layer = layers[0]
    try:
        with target.fetch(layer) as stream:
            return read_all(stream, layer, MAX_BUNDLE_BYTES)
    except NotFound:
        raise SignatureError(f"bundle blob {_short(layer.digest)} is missing") from None
    except InvalidManifest as exc:
        raise SignatureError(f"bundle blob unreadable: {exc}") from None


def _claimed_type(bundle_bytes: bytes | None, referrer: Referrer) -> str | None:
    """The predicate type the bundle claims (unverified), else the annotation's claim. Display and triage only."""
    if bundle_bytes is not None:
        with contextlib.suppress(ModelcrateError, ValueError):
            return _statement.parse_statement(_bundle.unverified_statement_of(bundle_bytes),
                                              require_predicate=False).predicate_type
    return referrer.annotations.get(ANN_PREDICATE_TYPE)


def _is_bundle(referrer: Referrer) -> bool:
    return not referrer.legacy and referrer.artifact_type in _KNOWN_BUNDLE_TYPES


def _legacy_layers(target: Target, referrer: Referrer) -> Iterable[tuple[Descriptor, bytes | None, str | None]]:
    for layer in referrer.manifest.layers:
        if layer.media_type != _cosign.SIMPLE_SIGNING_MEDIA_TYPE:
            continue
        try:
            with target.fetch(layer) as stream:
                yield layer, read_all(stream, layer, MAX_BUNDLE_BYTES), None
        except (NotFound, InvalidManifest) as exc:
            yield layer, None, f"payload {_short(layer.digest)} unreadable: {exc}"


def _signed_name(statement: _statement.Statement, digest: str) -> str | None:
    hexd = _digest.hex_of(digest)
    return next((s.name for s in statement.subjects if s.digest.get("sha256") == hexd), None)


def _what(predicate_type: str) -> str:
    return "signature" if predicate_type == SIGNATURE_TYPE else f"{predicate_type} attestation"


def _collect(target: Target, subject: Descriptor, verifier: Verifier,
             predicate_type: str) -> tuple[list[Verified], list[str], int]:
    """(passed, reasons for candidates that failed, number of candidates)."""
    passed: list[Verified] = []
    reasons: list[str] = []
    candidates = 0
    found = _referrers.list_referrers(target, subject)
    for referrer in filter(_is_bundle, found):
        try:
            data = _bundle_of(target, referrer)
        except SignatureError as exc:
            if referrer.annotations.get(ANN_PREDICATE_TYPE) == predicate_type:
                candidates += 1
                reasons.append(f"{_short(referrer.descriptor.digest)}: {exc}")
            continue
        claimed = _claimed_type(data, referrer)
        if claimed != predicate_type and referrer.annotations.get(ANN_PREDICATE_TYPE) != predicate_type:
            continue  # of another kind by every claim: checking it could only fail
        candidates += 1
        try:
            # (1) the signature, under the caller's policy; (2) what was signed: this digest, this type.
            signed, signer = verifier.verify_bundle(data)
            statement = _statement.check_statement(signed, digest=subject.digest, predicate_type=predicate_type)
        except SignatureError as exc:
            reasons.append(f"{_short(referrer.descriptor.digest)}: {exc}")
            continue
        passed.append(Verified("bundle", referrer.descriptor.digest, predicate_type, signer,
                               referrer.annotations.get(ANN_CREATED), _signed_name(statement, subject.digest),
                               statement))
    if predicate_type == SIGNATURE_TYPE:
        for referrer in (r for r in found if r.legacy):
            for layer, payload, problem in _legacy_layers(target, referrer):
                candidates += 1
                where = f"{_referrers.cosign_signature_tag(subject.digest)} layer {_short(layer.digest)}"
                if payload is None:
                    reasons.append(f"{where}: {problem}")
                    continue
                try:
                    signer = verifier.verify_cosign(payload, layer.annotations or {}, subject.digest)
                except SignatureError as exc:
                    reasons.append(f"{where}: {exc}")
                    continue
                passed.append(Verified("cosign", referrer.descriptor.digest, SIGNATURE_TYPE, f"{signer} (cosign)",
                                       None, _docker_reference(payload)))
    return passed, reasons, candidates


def _docker_reference(payload: bytes) -> str | None:
    """The repository a verified simple-signing payload names (reported, like a statement's subject name)."""
    value: Any = _statement.loads_strict(payload, what="simple signing payload")
    for key in ("critical", "identity", "docker-reference"):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) else None


def _failure(name: str, subject: Descriptor, predicate_type: str, verifier: Verifier, reasons: list[str],
             candidates: int) -> str:
    what = _what(predicate_type)
    if not candidates:
        return f"no {what} found for {name}@{subject.digest}"
    shown = "; ".join(reasons[:_REASONS_SHOWN]) + (f"; and {len(reasons) - _REASONS_SHOWN} more"
                                                      if len(reasons) > _REASONS_SHOWN else "")
    return f"no valid {what} by {verifier.description} for {name}@{subject.digest} ({candidates} checked: {shown})"


def verify(target: Target, subject: Descriptor, name: str, verifier: Verifier, *,
           predicate_type: str = SIGNATURE_TYPE) -> list[Verified]:
    """Every signature (or attestation of ``predicate_type``) on ``subject`` that ``verifier`` accepts.

    Fails closed: raises :class:`SignatureError` when none passes, listing why each candidate failed
    (``no signature found for NAME@DIGEST`` when there is none at all). ``name`` is used in messages; the
    signed subject name is reported (``Verified.signed_name``), not enforced: the digest is the binding,
    so signatures stay valid across copies to other repositories.
    """
    predicate_type = _statement.predicate_type_uri(predicate_type)
    passed, reasons, candidates = _collect(target, subject, verifier, predicate_type)
    if not passed:
        hint = ("sign it with `modelcrate sign`" if predicate_type == SIGNATURE_TYPE
                else "attach one with `modelcrate attest`") if not candidates else \
            "check the key or identity you verify with; the model may have been tampered with"
        raise SignatureError(_failure(name, subject, predicate_type, verifier, reasons, candidates), hint=hint)
    return passed


def verify_attestation(target: Target, subject: Descriptor, name: str, verifier: Verifier,
                       predicate_type: str) -> list[Verified]:
    """The attestations of ``predicate_type`` (``provenance``, ``evaluation`` or a URI) that pass.

    See :func:`verify`: the same candidates, checks and failure messages.
    """
    return verify(target, subject, name, verifier, predicate_type=predicate_type)


# --- policy files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """What a serving platform requires of a model (spec/signatures.md, "Policy files").

    ``signers``: any of them may sign. ``require_signature``: a signature (sign/v1 or cosign) must verify.
    ``attestations``: every listed predicate type needs at least one verified attestation.
    """

    signers: AnyOf
    require_signature: bool = True
    attestations: tuple[str, ...] = ()
    source: str = "policy"

    def __post_init__(self) -> None:
        if not self.require_signature and not self.attestations:
            raise UsageError(f"{self.source}: requires nothing (set require.signature or require.attestations)")


@dataclass(frozen=True)
class PolicyResult:
    """The evidence that satisfied a policy."""

    signatures: tuple[Verified, ...]
    attestations: Mapping[str, tuple[Verified, ...]]

    def all(self) -> list[Verified]:
        return [*self.signatures, *(v for group in self.attestations.values() for v in group)]


_POLICY_KEYS = {"version", "signers", "require"}
_SIGNER_KINDS = {"key", "ca", "keyless"}


def _policy_file(base: Path, value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where} must be a file path")
    path = Path(value) if Path(value).is_absolute() else base / value
    return read_regular_file(path, MAX_SMALL_FILE, f"{where}:")


def _policy_signer(base: Path, item: Any, where: str) -> Verifier:
    if not isinstance(item, Mapping) or len(set(item) & _SIGNER_KINDS) != 1:
        raise UsageError(f"{where} must have exactly one of key, ca, keyless")
    unknown = set(item) - _SIGNER_KINDS - {"chain"}
    if unknown or ("chain" in item and "ca" not in item):
        raise UsageError(f"{where} has unknown or misplaced fields: {', '.join(sorted(unknown) or ['chain'])}")
    if "key" in item:
        return KeyVerifier.from_pem(_policy_file(base, item["key"], f"{where}.key"))
    if "ca" in item:
        chains = item.get("chain") or []
        chains = [chains] if isinstance(chains, str) else chains
        if not isinstance(chains, list):
            raise UsageError(f"{where}.chain must be a path or a list of paths")
        return CAVerifier(_policy_file(base, item["ca"], f"{where}.ca"),
                          tuple(_policy_file(base, c, f"{where}.chain") for c in chains))
    keyless = item["keyless"]
    if not isinstance(keyless, Mapping) or set(keyless) - {"identity", "issuer", "trusted_root"}:
        raise UsageError(f"{where}.keyless needs identity and issuer (and optionally trusted_root)")
    identity, issuer = keyless.get("identity"), keyless.get("issuer")
    if not isinstance(identity, str) or not isinstance(issuer, str) or not identity or not issuer:
        raise UsageError(f"{where}.keyless needs non-empty identity and issuer")
    root = keyless.get("trusted_root")
    if root is not None and not isinstance(root, str):
        raise UsageError(f"{where}.keyless.trusted_root must be a file path")
    root_path = (Path(root) if Path(root).is_absolute() else base / root) if root else None
    return KeylessVerifier(identity, issuer, root_path)


def parse_policy(document: Any, *, base: Path, source: str = "policy") -> Policy:
    """Build a :class:`Policy` from a decoded YAML/JSON document; key files resolve against ``base``."""
    if not isinstance(document, Mapping):
        raise UsageError(f"{source}: a policy is a mapping with version, signers and require")
    unknown = set(document) - _POLICY_KEYS
    if unknown:
        raise UsageError(f"{source}: unknown fields {', '.join(sorted(map(str, unknown)))}")
    if document.get("version") != 1:
        raise UsageError(f"{source}: version must be 1")
    signers = document.get("signers")
    if not isinstance(signers, list) or not signers:
        raise UsageError(f"{source}: signers must be a non-empty list")
    verifiers = tuple(_policy_signer(base, s, f"{source}: signers[{i}]") for i, s in enumerate(signers))
    require = document.get("require", {})
    if not isinstance(require, Mapping) or set(require) - {"signature", "attestations"}:
        raise UsageError(f"{source}: require may hold signature and attestations only")
    signature = require.get("signature", True)
    if not isinstance(signature, bool):
        raise UsageError(f"{source}: require.signature must be true or false")
    attestations = require.get("attestations", [])
    if not isinstance(attestations, list) or not all(isinstance(a, str) and a for a in attestations):
        raise UsageError(f"{source}: require.attestations must be a list of predicate types")
    types = tuple(dict.fromkeys(_statement.predicate_type_uri(a) for a in attestations))
    return Policy(AnyOf(verifiers), signature, types, source)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read a YAML policy file (spec/signatures.md, "Policy files")."""
    import yaml  # type: ignore[import-untyped]

    path = Path(path)
    try:
        text = read_regular_file(path, MAX_SMALL_FILE, "the policy").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"the policy {path} is not UTF-8 text (byte {exc.start})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"{path} is not valid YAML{where}") from None
    return parse_policy(document, base=path.parent, source=str(path))


def check_policy(target: Target, subject: Descriptor, name: str, policy: Policy) -> PolicyResult:
    """Check ``policy`` against the referrers of ``subject``; raise :class:`PolicyViolation` listing what is unmet."""
    unmet: list[str] = []
    signatures: list[Verified] = []
    found: dict[str, tuple[Verified, ...]] = {}
    wanted = ([SIGNATURE_TYPE] if policy.require_signature else []) + list(policy.attestations)
    for predicate_type in wanted:
        passed, reasons, candidates = _collect(target, subject, policy.signers, predicate_type)
        if not passed:
            unmet.append(_failure(name, subject, predicate_type, policy.signers, reasons, candidates))
        elif predicate_type == SIGNATURE_TYPE and policy.require_signature:
            signatures = passed
        else:
            found[predicate_type] = tuple(passed)
    if unmet:
        raise PolicyViolation(f"{policy.source} is not satisfied: " + " | ".join(unmet),
                              hint="the model is refused; sign or attest it as the policy requires")
    return PolicyResult(tuple(signatures), found)


def verify_before_pull(remote: Target, desc: Descriptor, name: str, policy: Policy | Verifier) -> list[Verified]:
    """Verify ``desc`` against the remote's own referrers before any model blob is fetched.

    With a :class:`Policy` the failure is :class:`PolicyViolation`, with a plain verifier (``--key``)
    :class:`SignatureError`; both say the pull was refused.
    """
    try:
        if isinstance(policy, Policy):
            return check_policy(remote, desc, name, policy).all()
        return verify(remote, desc, name, policy)
    except PolicyViolation as exc:
        raise PolicyViolation(f"refusing to pull: {exc}", hint=exc.hint) from None
    except SignatureError as exc:
        raise SignatureError(f"refusing to pull: {exc}", hint=exc.hint) from None


# --- signing ---------------------------------------------------------------------------------------


def _annotations(predicate_type: str, created: datetime) -> dict[str, str]:
    return {ANN_BUNDLE_CONTENT: "dsse-envelope", ANN_PREDICATE_TYPE: predicate_type,
            ANN_CREATED: _created_text(created)}


def _store_bundle(target: Target, subject: Descriptor, data: bytes, predicate_type: str, created: datetime,
                  title: str) -> Descriptor:
    return _referrers.attach(target, subject, artifact_type=BUNDLE_MEDIA_TYPE, blob=data,
                             blob_media_type=BUNDLE_MEDIA_TYPE, annotations=_annotations(predicate_type, created),
                             blob_title=title)


def _bundle_title(subject: Descriptor) -> str:
    return f"{_referrers.fallback_tag(subject.digest)}.sigstore.json"


def read_subject(target: Target, subject: Descriptor) -> ModelView | None:
    """The model manifest at ``subject``, or None when it is not a model (e.g. an attestation)."""
    with target.fetch(subject) as stream:
        raw = read_all(stream, subject, MAX_MANIFEST_BYTES)
    try:
        return read_model(raw)
    except InvalidManifest:
        return None


def oms_inputs(view: ModelView) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(files, ignore paths, notes) for an OMS statement built from the model's layer digests.

    A raw layer is one file whose SHA-256 is its layer digest, so nothing is re-hashed. A tar layer's
    members have no digests of their own in the manifest; its directory goes into ``ignore_paths``
    (recorded in the signed statement, so verifiers skip it visibly) and a note says so. The OCI
    signature still covers those layers through the manifest digest.
    """
    files: list[tuple[str, str]] = []
    ignored: list[str] = []
    for f in view.files:
        if f.format == "raw":
            files.append((f.path, _digest.hex_of(f.descriptor.digest)))
        elif f.path not in ignored:
            ignored.append(f.path)
    notes = []
    if ignored:
        notes.append("the model-signing (OMS) bundle does not cover the archived directories "
                     f"{', '.join(ignored)} (tar layers have no per-file digests; the OCI signature covers them)")
    return files, ignored, notes


def _oms_model_name(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1] or "model"


def _sign_oms(target: Target, subject: Descriptor, name: str, signer: Signer, view: ModelView,
              created: datetime) -> tuple[Stored | None, list[str]]:
    files, ignored, notes = oms_inputs(view)
    try:
        data = signer.sign_oms(files, model_name=_oms_model_name(name), ignore_paths=ignored)
    except UsageError as exc:
        return None, [*notes, f"no model-signing (OMS) bundle: {exc}"]
    return Stored("model-signing", _store_bundle(target, subject, data, OMS_PREDICATE_TYPE, created, OMS_TITLE),
                  OMS_PREDICATE_TYPE), notes


def sign(target: Target, subject: Descriptor, name: str, signer: Signer, *, created: datetime,
         cosign_legacy: bool = False, model_signing: bool = True) -> SignResult:
    """Sign the manifest ``subject`` in ``target``; ``name`` is its repository (the statement subject name).

    Stores (1) the signature bundle referrer (predicate ``https://sigstore.dev/cosign/sign/v1``, empty
    predicate); (2) unless ``model_signing`` is False, an OMS bundle over the model's files as a second
    referrer (skipped with a note when the signer cannot make one, e.g. Ed25519 keys); (3) with
    ``cosign_legacy``, cosign's simple-signing signature at ``sha256-<hex>.sig``.
    """
    # The cosign layer is signed first: a signer that cannot make one is refused before anything is written.
    legacy = _cosign_layer(subject, name, signer) if cosign_legacy else None
    statement = _statement.build_statement([(name, {"sha256": _digest.hex_of(subject.digest)})], SIGNATURE_TYPE, {})
    data = signer.sign_statement(statement)
    stored = [Stored("signature", _store_bundle(target, subject, data, SIGNATURE_TYPE, created, _bundle_title(subject)),
                     SIGNATURE_TYPE)]
    notes: list[str] = []
    if model_signing:
        view = read_subject(target, subject)
        if view is None:
            notes.append("no model-signing (OMS) bundle: the subject is not a model manifest")
        else:
            oms_stored, oms_notes = _sign_oms(target, subject, name, signer, view, created)
            notes.extend(oms_notes)
            if oms_stored is not None:
                stored.append(oms_stored)
    if legacy is not None:
        stored.append(_write_cosign_layer(target, subject, *legacy, created=created))
    return SignResult(subject.digest, tuple(stored), tuple(notes))


def _read_sig_layers(target: Target, tag: str) -> list[Descriptor]:
    try:
        desc = target.resolve(tag)
    except NotFound:
        return []
    with target.fetch(Descriptor(OCI_MANIFEST, desc.digest, desc.size)) as stream:
        raw = read_all(stream, desc, MAX_MANIFEST_BYTES)
    try:
        layers = list(parse_manifest(raw).layers)
    except InvalidManifest as exc:
        raise SignatureError(f"{tag} holds something that is not a cosign signature manifest: {exc}") from None
    if any(d.media_type != _cosign.SIMPLE_SIGNING_MEDIA_TYPE for d in layers):
        # Rewriting it would change layers we do not understand; leave it to the tool that wrote them.
        raise SignatureError(f"{tag} holds layers that are not cosign simple-signing signatures; not rewriting it")
    return layers


def _has_layer(layers: list[Descriptor], layer: Descriptor) -> bool:
    return any(d.digest == layer.digest and (d.annotations or {}) == (layer.annotations or {}) for d in layers)


def _cosign_layer(subject: Descriptor, name: str, signer: Signer) -> tuple[bytes, Descriptor]:
    payload = _cosign.simple_signing_payload(name, subject.digest)
    return payload, Descriptor.of(_cosign.SIMPLE_SIGNING_MEDIA_TYPE, payload,
                                  annotations=signer.cosign_annotations(payload))


def write_cosign_signature(target: Target, subject: Descriptor, name: str, signer: Signer, *,
                           created: datetime) -> Stored:
    """Add a cosign simple-signing signature for ``subject`` to its ``sha256-<hex>.sig`` image, as cosign does.

    The image keeps earlier signatures (one layer each) and gets ours appended; the manifest and config
    bytes follow cosign's (go-containerregistry) serialisation. Like the referrers index, the tag is
    rewritten read-modify-write: under the target's tag lock where it has one, else re-read and retried.
    """
    return _write_cosign_layer(target, subject, *_cosign_layer(subject, name, signer), created=created)


def _write_cosign_layer(target: Target, subject: Descriptor, payload: bytes, layer: Descriptor, *,
                        created: datetime) -> Stored:
    tag = _cosign.signature_tag(subject.digest)
    target.push(layer.bare(), io.BytesIO(payload))
    lock = target.tag_lock() if isinstance(target, TagLocker) else contextlib.nullcontext()
    with lock:
        for _attempt in range(6):
            layers = _read_sig_layers(target, tag)
            if not _has_layer(layers, layer):
                layers.append(layer)
            config = _cosign.signature_config([d.digest for d in layers], _created_text(created))
            config_desc = Descriptor.of(_cosign.OCI_IMAGE_CONFIG_MEDIA_TYPE, config)
            raw = _cosign.signature_manifest((config_desc.size, config_desc.digest),
                                             [(d.size, d.digest, d.annotations) for d in layers])
            desc = Descriptor.of(OCI_MANIFEST, raw)
            target.push(config_desc, io.BytesIO(config))
            target.push(desc, io.BytesIO(raw))
            target.tag(desc, tag)
            if isinstance(target, TagLocker):
                return Stored("cosign-legacy", desc, SIGNATURE_TYPE, tag)
            time.sleep(0.05 * (1 + random.random()))
            if _has_layer(_read_sig_layers(target, tag), layer):
                return Stored("cosign-legacy", desc, SIGNATURE_TYPE, tag)
    raise SignatureError(f"could not record the cosign signature in {tag}: concurrent writers kept replacing it",
                         hint="run the command again")


def _check_predicate(predicate_type: str, predicate: Mapping[str, Any]) -> None:
    if not isinstance(predicate, Mapping):
        raise UsageError("the predicate must be a JSON object")
    try:
        if predicate_type == _statement.SLSA_PROVENANCE_V1:
            _predicates.validate_slsa_provenance(predicate)
        elif predicate_type == _statement.EVALUATION_V1:
            _predicates.validate_evaluation(predicate)
    except SignatureError as exc:
        raise UsageError(f"invalid predicate: {exc}") from None


def attest(target: Target, subject: Descriptor, name: str, signer: Signer, predicate_type: str,
           predicate: Mapping[str, Any], *, created: datetime) -> Stored:
    """Sign ``predicate`` about ``subject`` and store it as a referrer; returns what was stored.

    ``predicate_type`` is ``provenance``, ``evaluation`` or any URI. Provenance and evaluation predicates
    are validated before signing (a malformed one is refused, not signed).
    """
    uri = _statement.predicate_type_uri(predicate_type)
    if uri == SIGNATURE_TYPE:
        raise UsageError("use `modelcrate sign` for signatures; attest takes provenance, evaluation or a URI")
    _check_predicate(uri, predicate)
    statement = _statement.build_statement([(name, {"sha256": _digest.hex_of(subject.digest)})], uri, predicate)
    data = signer.sign_statement(statement)
    return Stored("attestation", _store_bundle(target, subject, data, uri, created, _bundle_title(subject)), uri)


def evaluation_from_metadata(metadata: Mapping[str, Any] | None, *, created: datetime) -> dict[str, Any]:
    """An evaluation predicate from the metadata's ``metrics`` (each with a dataset); UsageError if there are none."""
    metrics = [{k: m[k] for k in ("name", "value", "dataset", "split") if k in m}
               for m in (metadata or {}).get("metrics") or [] if isinstance(m, Mapping)]
    if not metrics:
        raise UsageError("the model's metadata has no metrics: give the evaluation with --predicate FILE")
    return _predicates.evaluation(metrics, created=_created_text(created))


# --- discovery -------------------------------------------------------------------------------------


@dataclass
class Node:
    """One referrer in the ``discover`` tree. ``signer`` is what the bundle claims, not a verified fact."""

    digest: str
    kind: str
    artifact_type: str | None
    predicate_type: str | None = None
    signer: str | None = None
    created: str | None = None
    tag: str | None = None
    children: list[Node] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "kind": self.kind, "artifactType": self.artifact_type,
                "predicateType": self.predicate_type, "signer": self.signer, "created": self.created,
                "tag": self.tag, "referrers": [c.to_dict() for c in self.children]}


def _fulcio_issuer(cert: x509.Certificate) -> str | None:
    for oid in (_FULCIO_ISSUER_V2, _FULCIO_ISSUER_V1):
        try:
            raw = cert.extensions.get_extension_for_oid(oid).value.value  # type: ignore[attr-defined]
        except (x509.ExtensionNotFound, AttributeError):
            continue
        if oid == _FULCIO_ISSUER_V2:
            raw = _der_utf8(raw)
        with contextlib.suppress(UnicodeDecodeError):
            return bytes(raw).decode("utf-8")
    return None


def _der_utf8(raw: bytes) -> bytes:
    # The v2 issuer extension holds a DER UTF8String (tag 0x0C): strip the tag and the length octets.
    if len(raw) < 2 or raw[0] != 0x0C:
        return b""
    if raw[1] < 0x80:
        return raw[2:2 + raw[1]]
    n = raw[1] & 0x7F
    return raw[2 + n:2 + n + int.from_bytes(raw[2:2 + n], "big")]


def _cert_identity(cert: x509.Certificate) -> str | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for kind in (x509.RFC822Name, x509.UniformResourceIdentifier):
        values = san.get_values_for_type(kind)
        if values:
            return str(values[0])
    return None


def describe_bundle_signer(bundle_bytes: bytes) -> str | None:
    """Who a bundle says signed it, unverified: ``key <hint>``, ``certificate <subject>`` or
    ``keyless <identity> (<issuer>)``; None when it names nobody readable."""
    try:
        material = _statement.loads_strict(bundle_bytes, what="bundle").get("verificationMaterial") or {}
        if isinstance(material.get("publicKey"), Mapping):
            hint = material["publicKey"].get("hint")
            return f"key {str(hint)[:16]}" if hint else "key"
        raw = None
        if isinstance(material.get("certificate"), Mapping):
            raw = material["certificate"].get("rawBytes")
        elif isinstance(material.get("x509CertificateChain"), Mapping):
            raw = (material["x509CertificateChain"].get("certificates") or [{}])[0].get("rawBytes")
        if not raw:
            return None
        cert = x509.load_der_x509_certificate(b64decode(raw, what="certificate"))
    except (ModelcrateError, ValueError, AttributeError, TypeError):
        return None
    issuer = _fulcio_issuer(cert)
    if issuer is not None:
        return f"keyless {_cert_identity(cert) or '?'} ({issuer})"
    return f"certificate {_cert_subject(cert)}"


def _kind_of(predicate_type: str | None) -> str:
    if predicate_type == SIGNATURE_TYPE:
        return "signature"
    if predicate_type == OMS_PREDICATE_TYPE:
        return "model-signing"
    return "attestation" if predicate_type else "bundle"


def _node(target: Target, referrer: Referrer, subject: Descriptor) -> Node:
    if referrer.legacy:
        layers = [d for d in referrer.manifest.layers if d.media_type == _cosign.SIMPLE_SIGNING_MEDIA_TYPE]
        signers = {"certificate" if COSIGN_CERT_ANNOTATION in (d.annotations or {}) else "key" for d in layers}
        return Node(referrer.descriptor.digest, "cosign-signature", _cosign.SIMPLE_SIGNING_MEDIA_TYPE, SIGNATURE_TYPE,
                    f"{len(layers)} cosign signature(s) by " + ("/".join(sorted(signers)) or "nobody"),
                    None, _referrers.cosign_signature_tag(subject.digest))
    node = Node(referrer.descriptor.digest, "other", referrer.artifact_type,
                created=referrer.annotations.get(ANN_CREATED))
    if referrer.artifact_type in _KNOWN_BUNDLE_TYPES:
        try:
            data: bytes | None = _bundle_of(target, referrer)
        except SignatureError:
            data = None
        node.predicate_type = _claimed_type(data, referrer)
        node.kind = _kind_of(node.predicate_type)
        node.signer = describe_bundle_signer(data) if data is not None else "(bundle unreadable)"
    return node


def discover(target: Target, subject: Descriptor, *, depth: int = _DISCOVER_DEPTH) -> list[Node]:
    """The referrers of ``subject`` as a tree (referrers of referrers too, ``depth`` levels), oldest first.

    Types and signers are what the referrers claim; use :func:`verify` to check them.
    """
    seen = {subject.digest}

    def walk(node_subject: Descriptor, level: int) -> list[Node]:
        nodes = []
        for referrer in _referrers.list_referrers(target, node_subject):
            if referrer.descriptor.digest in seen:
                continue
            seen.add(referrer.descriptor.digest)
            node = _node(target, referrer, node_subject)
            if level < depth:
                node.children = walk(referrer.descriptor, level + 1)
            nodes.append(node)
        return nodes

    return walk(subject, 1)


# --- the OMS file beside an unpacked model ---------------------------------------------------------


@dataclass(frozen=True)
class ModelSignature:
    """The OMS bundle chosen for a model: its bytes, referrer and (claimed or verified) signer."""

    data: bytes = field(repr=False)
    referrer: str
    signer: str | None
    verified: bool


def model_signature(target: Target, subject: Descriptor, *, verifier: Verifier | None = None) -> ModelSignature:
    """The newest OMS bundle stored for ``subject`` that matches the model's files.

    Every candidate's file list is checked against the manifest's raw layers (tar directories are in its
    ignore paths), so a bundle for other files is never chosen. With ``verifier`` its signature must
    verify too; without one the caller hands the file to ``model_signing verify`` later.
    """
    view = read_subject(target, subject)
    if view is None:
        raise UsageError(f"{subject.digest} is not a model: it has no model-signing bundle")
    files, _ignored, _notes = oms_inputs(view)
    reasons: list[str] = []
    chosen: ModelSignature | None = None
    for referrer in filter(_is_bundle, _referrers.list_referrers(target, subject)):
        try:
            data = _bundle_of(target, referrer)
        except SignatureError:
            continue
        if _claimed_type(data, referrer) != OMS_PREDICATE_TYPE:
            continue
        signer: str | None
        try:
            if verifier is not None:
                signed, signer = verifier.verify_bundle(data)
            else:
                signed, signer = _bundle.unverified_statement_of(data), describe_bundle_signer(data)
            _oms.check_oms_statement(signed, files)
        except (SignatureError, UsageError) as exc:
            reasons.append(f"{_short(referrer.descriptor.digest)}: {exc}")
            continue
        chosen = ModelSignature(data, referrer.descriptor.digest, signer, verifier is not None)  # newest wins
    if chosen is None:
        detail = f" ({'; '.join(reasons[:_REASONS_SHOWN])})" if reasons else ""
        raise SignatureError(f"no model-signing (OMS) bundle for {subject.digest}{detail}",
                             hint="sign the model with `modelcrate sign --key` (an ECDSA key) first")
    return chosen


def check_signature_path(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Refuse early (before a model is unpacked) a signature path that exists or has no directory."""
    path = Path(path)
    if (path.exists() or path.is_symlink()) and not force:
        raise AlreadyExists(f"{path} exists", hint="use --force to overwrite it")
    if path.is_dir():
        raise UsageError(f"--model-signature {path} is a directory; name a file")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: {path.parent} is not a directory")
    return path


def save_model_signature(signature: ModelSignature, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write an OMS bundle to ``path`` atomically (an existing file only with ``force``)."""
    path = check_signature_path(path, force=force)
    atomic_write(path, signature.data)
    return path


def write_model_signature(target: Target, subject: Descriptor, path: str | os.PathLike[str], *,
                          verifier: Verifier | None = None, force: bool = False) -> ModelSignature:
    """Write the model's OMS bundle (:func:`model_signature`) to ``path``."""
    check_signature_path(path, force=force)
    signature = model_signature(target, subject, verifier=verifier)
    save_model_signature(signature, path, force=force)
    return signature


def prepare_model_signature(target: Target, subject: Descriptor, path: str | os.PathLike[str], *,
                            kinds: Sequence[str] = (), include: Sequence[str] = (),
                            verify: Policy | Verifier | None = None, force: bool = False) -> ModelSignature:
    """For ``pull -o DIR --model-signature FILE``: every check, and the bundle, before any file is written.

    With ``verify`` (the pull's ``--key`` or ``--policy``) the OMS bundle must be signed by an accepted
    signer too; the caller writes it with :func:`save_model_signature` once the files are in place.
    """
    check_model_signature_request(kinds, include)
    check_signature_path(path, force=force)
    verifier = verify.signers if isinstance(verify, Policy) else verify
    return model_signature(target, subject, verifier=verifier)


def check_model_signature_request(kinds: Sequence[str], include: Sequence[str]) -> None:
    """A model-signing file covers the whole model: refuse it together with --filter/--include."""
    if kinds or include:
        raise UsageError("--model-signature covers the whole model: drop --filter and --include")
