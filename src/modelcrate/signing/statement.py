"""in-toto Statement v1: build the bytes we sign, parse and check the bytes we verified.

Spec: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md. A statement binds a predicate
(what is claimed) to subjects (what it is claimed about, identified by digest). For modelcrate the subject
is the OCI manifest digest of a model and its repository name.

The validation rules mirror the reference Go binding (``Validate()``), including its digest-encoding
checks; each failure carries the Go error name in :attr:`InvalidStatement.code` so the conformance cases
can be compared one to one.

Example:

>>> data = build_statement([("registry.example/m", {"sha256": "ab" * 32})], "signature", {})
>>> parse_statement(data).predicate_type
'https://sigstore.dev/cosign/sign/v1'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelcrate.errors import SignatureError, UsageError
from modelcrate.format import canonical, untrusted_json

STATEMENT_TYPE_V1 = "https://in-toto.io/Statement/v1"
# The Go binding still accepts v0.1 statements (same layout); v0.2 and v2 are refused.
_ACCEPTED_STATEMENT_TYPES = frozenset({STATEMENT_TYPE_V1, "https://in-toto.io/Statement/v0.1"})

SIGNATURE_V1 = "https://sigstore.dev/cosign/sign/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
EVALUATION_V1 = "https://modelcrate.dev/evaluation/v1"

PREDICATE_TYPES: Mapping[str, str] = {
    "signature": SIGNATURE_V1,
    "provenance": SLSA_PROVENANCE_V1,
    "evaluation": EVALUATION_V1,
}

# Hex lengths the in-toto DigestSet spec fixes for its named algorithms; other names pass unchecked.
_HEX_DIGEST_LENGTHS: Mapping[str, tuple[int, ...]] = {
    "sha1": (40,),
    "md5": (32,),
    "sha224": (56,),
    "sha256": (64,),
    "sha384": (96,),
    "sha512": (128,),
    "sha512_224": (56,),
    "sha512_256": (64,),
    "sha3_224": (56,),
    "sha3_256": (64,),
    "sha3_384": (96,),
    "sha3_512": (128,),
    "gitCommit": (40, 64),
    "gitTree": (40, 64),
    "gitBlob": (40, 64),
    "gitTag": (40, 64),
}
_HEX = re.compile(r"[0-9a-fA-F]*")
_OCI_SHA256 = re.compile(r"sha256:([0-9a-f]{64})")


class InvalidStatement(SignatureError):
    """A statement or one of its resource descriptors breaks the in-toto rules.

    ``code`` is the matching error name of the reference Go binding, e.g. ``ErrSubjectRequired``.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Subject:
    """One statement subject: an optional name and its digest set."""

    name: str
    digest: Mapping[str, str]


@dataclass(frozen=True)
class Statement:
    """A parsed statement. ``raw`` is the exact bytes it was parsed from (the signed bytes)."""

    raw: bytes
    type: str
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any] | None


def predicate_type_uri(name_or_uri: str) -> str:
    """Map a friendly name (``signature``, ``provenance``, ``evaluation``) to its URI; URIs pass through.

    >>> predicate_type_uri("provenance")
    'https://slsa.dev/provenance/v1'
    """
    if not isinstance(name_or_uri, str) or not name_or_uri:
        raise UsageError("a predicate type is required")
    return PREDICATE_TYPES.get(name_or_uri, name_or_uri)


def loads_strict(data: bytes | str, *, what: str) -> Any:
    """Parse signed or to-be-signed JSON with the bounded parser (:mod:`modelcrate.format.untrusted_json`):
    at most :data:`MAX_SIGNED_JSON_BYTES`, refusing duplicate keys, NaN/Infinity, huge numbers and deep
    nesting.

    Signed documents must mean one thing: with duplicate keys two parsers can read two different
    subjects out of the same signed bytes.

    >>> loads_strict(b'{"a": 1}', what="x")
    {'a': 1}
    """
    try:
        return untrusted_json.loads(data, max_bytes=MAX_SIGNED_JSON_BYTES, what=what, error=SignatureError)
    except untrusted_json.Rejected as exc:
        raise InvalidStatement(str(exc), code=_JSON_ERROR_CODES.get(exc.reason, "ErrInvalidJSON")) from None


MAX_SIGNED_JSON_BYTES = 4 * 1024 * 1024  # a bundle is a referrer layer: the same cap as a manifest
_JSON_ERROR_CODES = {"duplicate-key": "ErrDuplicateKey", "number": "ErrInvalidNumber"}


def validate_digest_set(digest: Any, *, where: str) -> None:
    """Check a DigestSet: a non-empty object of string values, hex of the right length where known."""
    if not isinstance(digest, Mapping) or not digest:
        raise InvalidStatement(f"{where} has no digest", code="ErrDigestRequired")
    for alg, value in digest.items():
        if not isinstance(value, str) or not value:
            raise InvalidStatement(f"{where} digest {alg!r} is not a string", code="ErrInvalidDigestEncoding")
        lengths = _HEX_DIGEST_LENGTHS.get(alg)
        if lengths is None:
            continue
        if not _HEX.fullmatch(value):
            raise InvalidStatement(f"{where} digest {alg!r} is not hex", code="ErrInvalidDigestEncoding")
        if len(value) not in lengths:
            raise InvalidStatement(
                f"{where} digest {alg!r} has {len(value)} hex digits, expected {lengths[0]}",
                code="ErrIncorrectDigestLength",
            )


def validate_resource_descriptor(rd: Any, *, where: str = "resource descriptor", require_digest: bool = False) -> None:
    """Check an in-toto ResourceDescriptor: one of ``uri``, ``digest``, ``content`` at least.

    ``require_digest`` applies the Statement rule that subjects MUST carry a digest.
    """
    if not isinstance(rd, Mapping):
        raise InvalidStatement(f"{where} is not an object", code="ErrRDRequiredField")
    # A subject must have a digest anyway, so a named subject without one is reported as such
    # (the Go binding does the same); a bare descriptor needs a uri, digest or content.
    identifying = ("name", "uri", "digest", "content") if require_digest else ("uri", "digest", "content")
    if not any(rd.get(k) for k in identifying):
        raise InvalidStatement(f"{where} needs a uri, digest or content", code="ErrRDRequiredField")
    for key in ("name", "uri", "content", "downloadLocation", "mediaType"):
        if key in rd and not isinstance(rd[key], str):
            raise InvalidStatement(f"{where} field {key!r} is not a string", code="ErrRDInvalidField")
    if "annotations" in rd and not isinstance(rd["annotations"], Mapping):
        raise InvalidStatement(f"{where} annotations are not an object", code="ErrRDInvalidField")
    if require_digest or "digest" in rd:
        validate_digest_set(rd.get("digest"), where=where)


def validate_statement(obj: Any, *, require_predicate: bool = True) -> None:
    """Check a decoded statement against the Statement v1 rules.

    ``require_predicate`` follows the Go binding (predicate present); the spec itself makes it optional,
    so verifiers of third-party payloads may pass ``False``.
    """
    if not isinstance(obj, Mapping):
        raise InvalidStatement("statement is not a JSON object", code="ErrInvalidStatementType")
    if obj.get("_type") not in _ACCEPTED_STATEMENT_TYPES:
        raise InvalidStatement(
            f"statement _type is {obj.get('_type')!r}, not {STATEMENT_TYPE_V1}", code="ErrInvalidStatementType"
        )
    subjects = obj.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise InvalidStatement("statement has no subject", code="ErrSubjectRequired")
    for i, subject in enumerate(subjects):
        validate_resource_descriptor(subject, where=f"subject {i}", require_digest=True)
    predicate_type = obj.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise InvalidStatement("statement has no predicateType", code="ErrPredicateTypeRequired")
    if "predicate" in obj and not isinstance(obj["predicate"], Mapping):
        raise InvalidStatement("statement predicate is not an object", code="ErrPredicateRequired")
    if require_predicate and "predicate" not in obj:
        raise InvalidStatement("statement has no predicate", code="ErrPredicateRequired")


def parse_statement(data: bytes, *, require_predicate: bool = True) -> Statement:
    """Parse and validate statement bytes; the result keeps ``data`` as :attr:`Statement.raw`.

    >>> s = parse_statement(build_statement([("m", {"sha256": "00" * 32})], "evaluation", {"metrics": []}))
    >>> s.subjects[0].name
    'm'
    """
    obj = loads_strict(data, what="statement")
    validate_statement(obj, require_predicate=require_predicate)
    return Statement(
        raw=bytes(data),
        type=obj["_type"],
        subjects=tuple(Subject(name=s.get("name", ""), digest=dict(s["digest"])) for s in obj["subject"]),
        predicate_type=obj["predicateType"],
        predicate=obj.get("predicate"),
    )


def _subject_object(name: str, digest: Mapping[str, str]) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise UsageError("every statement subject needs a non-empty name")
    try:
        validate_digest_set(digest, where=f"subject {name!r}")
    except InvalidStatement as exc:
        raise UsageError(str(exc)) from None
    return {"name": name, "digest": dict(digest)}


def build_statement(
    subjects: Sequence[tuple[str, Mapping[str, str]]],
    predicate_type: str,
    predicate: Mapping[str, Any],
) -> bytes:
    """Build an in-toto Statement v1 as canonical JSON bytes.

    ``predicate_type`` is a URI or one of the friendly names in :data:`PREDICATE_TYPES`. Subjects keep
    their order.

    >>> build_statement([("m", {"sha256": "00" * 32})], "signature", {})[:43]
    b'{"_type":"https://in-toto.io/Statement/v1",'
    """
    if not subjects:
        raise UsageError("a statement needs at least one subject")
    if not isinstance(predicate, Mapping):
        raise UsageError("the predicate must be a JSON object")
    _check_json_numbers(predicate)
    return canonical.dumps(
        {
            "_type": STATEMENT_TYPE_V1,
            "subject": [_subject_object(name, digest) for name, digest in subjects],
            "predicateType": predicate_type_uri(predicate_type),
            "predicate": dict(predicate),
        }
    )


def _check_json_numbers(value: Any) -> None:
    # Canonical JSON refuses NaN/Infinity with a bare ValueError; say which input was wrong instead.
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError("the predicate contains NaN or Infinity, which JSON cannot carry")
    if isinstance(value, Mapping):
        for item in value.values():
            _check_json_numbers(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_json_numbers(item)


def _manifest_hex(digest: str) -> str:
    match = _OCI_SHA256.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise UsageError(f"expected a digest of the form sha256:<64 hex>, got {digest!r}")
    return match.group(1)


def check_statement(
    statement_bytes: bytes,
    *,
    digest: str,
    predicate_type: str | None = None,
    name: str | None = None,
) -> Statement:
    """Check that verified statement bytes are about ``digest`` (and ``name``) with ``predicate_type``.

    Call this after the signature check: a valid signature over a statement about another manifest,
    or of another kind, must not count. Raises :class:`SignatureError` saying what differs.

    >>> data = build_statement([("r", {"sha256": "aa" * 32})], "signature", {})
    >>> check_statement(data, digest="sha256:" + "aa" * 32, predicate_type="signature").subjects[0].name
    'r'
    """
    expected_hex = _manifest_hex(digest)
    statement = parse_statement(statement_bytes, require_predicate=False)
    if predicate_type is not None:
        wanted = predicate_type_uri(predicate_type)
        if statement.predicate_type != wanted:
            raise SignatureError(f"attestation is of type {statement.predicate_type}, not {wanted}")
    matching = [s for s in statement.subjects if s.digest.get("sha256") == expected_hex]
    if not matching:
        found = ", ".join(f"sha256:{s.digest['sha256']}" for s in statement.subjects if "sha256" in s.digest)
        raise SignatureError(f"signature is for {found or 'no sha256 digest'}, not {digest}")
    if name is not None and all(s.name != name for s in matching):
        names = ", ".join(repr(s.name) for s in matching)
        raise SignatureError(f"signature names {names}, not {name!r}")
    return statement
