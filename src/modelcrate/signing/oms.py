"""OpenSSF Model Signing (OMS v1.0) bundles over a model's files.

An OMS bundle is a Sigstore bundle v0.3 whose DSSE payload is an in-toto Statement v1 with predicate type
``https://model_signing/signature/v1.0``. The predicate lists every file (``resources``: name, algorithm,
digest, sorted by name) and how the files were enumerated (``serialization``). The single subject is the
model: its name, and as digest the SHA-256 of the raw file digests concatenated in resource order.

The statement is serialised the way model-signing (the reference implementation) writes it, so that we
reproduce its payloads byte for byte: ``json.dumps(indent=2)`` with ASCII escapes and this key order
(taken from the v1.1.0 key vector)::

    _type, subject[{name, digest{sha256}}], predicateType,
    predicate{resources[{algorithm, name, digest}], serialization{allow_symlinks, method, hash_type, ignore_paths}}

This module is pure: the caller enumerates and hashes the files (relative POSIX paths, SHA-256 hex) and
hands them in. Only the ``files`` serialization with SHA-256 is produced and accepted.

Example:

>>> files = [("signme-1", "bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc")]
>>> b'"predicateType": "https://model_signing/signature/v1.0"' in build_oms_statement(files, model_name="m")
True
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from modelcrate.errors import SignatureError, UsageError
from modelcrate.signing import keys
from modelcrate.signing.bundle import assemble_bundle, sign_envelope, verify_with_ca, verify_with_key
from modelcrate.signing.dsse import b64encode
from modelcrate.signing.statement import STATEMENT_TYPE_V1, loads_strict

OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
# OMS v1.0 section 6.2: always excluded, matched as top-level paths.
DEFAULT_IGNORE_PATHS = (".git", ".gitattributes", ".github", ".gitignore")

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_GLOB = re.compile(r"[*?\[]")


# --- paths -----------------------------------------------------------------------------------------


def _check_relative_path(path: Any, *, what: str) -> str:
    """Refuse anything but a canonical relative POSIX path (OMS v1.0 section 6.1.2)."""
    if not isinstance(path, str) or not path:
        raise UsageError(f"{what} must be a non-empty relative path")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} {path!r} is not valid UTF-8") from None
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"{what} {path!r} is not a canonical relative POSIX path")
    return path


def _check_ignore_paths(ignore_paths: Iterable[str]) -> list[str]:
    out: list[str] = []
    for path in ignore_paths:
        _check_relative_path(path, what="ignore path")
        if _GLOB.search(path):
            raise UsageError(f"ignore path {path!r} contains a glob character; OMS ignore paths are exact")
        if path not in out:
            out.append(path)
    return out


def _is_ignored(path: str, ignore_paths: Iterable[str]) -> bool:
    # An ignore entry excludes that exact path and, when it is a directory, everything under it.
    return any(path == p or path.startswith(p + "/") for p in ignore_paths)


def _check_files(files: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path, digest in files:
        _check_relative_path(path, what="file path")
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise UsageError(f"file {path!r} needs a lowercase SHA-256 hex digest")
        if path in out:
            raise UsageError(f"file {path!r} is listed twice")
        out[path] = digest
    return out


# --- statement -------------------------------------------------------------------------------------


def oms_root_digest(digests_in_order: Iterable[str]) -> str:
    """SHA-256 over the raw bytes of the given hex digests, concatenated in order (the OMS subject).

    >>> oms_root_digest(["00" * 32]) == hashlib.sha256(bytes(32)).hexdigest()
    True
    """
    hasher = hashlib.sha256()
    for digest in digests_in_order:
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()


def _recorded_ignore_paths(ignore_paths: Sequence[str]) -> list[str]:
    # The caller's order is kept (model-signing's own order is arbitrary); defaults are always
    # applied, so they are always recorded, appended when the caller did not list them.
    recorded = _check_ignore_paths(ignore_paths)
    return recorded + [p for p in DEFAULT_IGNORE_PATHS if p not in recorded]


def build_oms_statement(
    files: Iterable[tuple[str, str]],
    *,
    model_name: str,
    ignore_paths: Sequence[str] = (),
) -> bytes:
    """Build the OMS statement for ``files`` as the exact bytes model-signing would sign.

    ``files`` are ``(relative_posix_path, sha256_hex)``; files under ``ignore_paths`` or the default
    ignores are dropped, the rest sorted by name. ``model_name`` is the subject name (by convention the
    model directory's basename). ``ignore_paths`` are recorded in the given order.
    """
    if not isinstance(model_name, str) or not model_name:
        raise UsageError("the OMS model name must be a non-empty string")
    recorded = _recorded_ignore_paths(ignore_paths)
    kept = {p: d for p, d in _check_files(files).items() if not _is_ignored(p, recorded)}
    if not kept:
        raise UsageError("an OMS signature needs at least one file that is not ignored")
    names = sorted(kept)  # code-point order, as OMS requires
    statement = {
        "_type": STATEMENT_TYPE_V1,
        "subject": [{"name": model_name, "digest": {"sha256": oms_root_digest(kept[n] for n in names)}}],
        "predicateType": OMS_PREDICATE_TYPE,
        "predicate": {
            "resources": [{"algorithm": "sha256", "name": n, "digest": kept[n]} for n in names],
            "serialization": {
                "allow_symlinks": False,
                "method": "files",
                "hash_type": "sha256",
                "ignore_paths": recorded,
            },
        },
    }
    return json.dumps(statement, indent=2, ensure_ascii=True).encode("ascii")


# --- signing ---------------------------------------------------------------------------------------


def _check_oms_key(key: keys.PrivateKey) -> None:
    # OMS (and model-signing) verify key and certificate signatures with EC keys only.
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError("OMS signatures need an ECDSA key (P-256, P-384 or P-521)")


def _chain_material(cert_chain_der: Sequence[bytes], key: keys.PrivateKey) -> dict[str, Any]:
    try:
        leaf = x509.load_der_x509_certificate(cert_chain_der[0])
    except ValueError:
        raise UsageError("the signing certificate is not a DER X.509 certificate") from None
    if keys.public_pem(leaf.public_key()) != keys.public_pem(key):  # type: ignore[arg-type]
        raise UsageError("the signing certificate is for another key than the one signing")
    certificates = [{"rawBytes": b64encode(der)} for der in cert_chain_der]
    return {"x509CertificateChain": {"certificates": certificates}, "tlogEntries": []}


def sign_oms(
    files: Iterable[tuple[str, str]],
    key: keys.PrivateKey,
    *,
    model_name: str,
    ignore_paths: Sequence[str] = (),
    cert_chain_der: Sequence[bytes] | None = None,
) -> bytes:
    """Sign a model's files as an OMS bundle (canonical JSON bytes).

    Key signing records ``publicKey.hint``; with ``cert_chain_der`` (leaf first, then intermediates, as
    DER) the bundle records ``x509CertificateChain``, the OMS certificate method.
    """
    _check_oms_key(key)
    statement = build_oms_statement(files, model_name=model_name, ignore_paths=ignore_paths)
    if cert_chain_der:
        material = _chain_material(cert_chain_der, key)
    else:
        material = {"publicKey": {"hint": keys.key_hint(key)}, "tlogEntries": []}
    return assemble_bundle(material, sign_envelope(statement, key))


# --- verifying -------------------------------------------------------------------------------------


def _oms_parts(statement_bytes: bytes) -> tuple[Mapping[str, Any], list[Mapping[str, Any]], list[str]]:
    statement = loads_strict(statement_bytes, what="OMS statement")
    if not isinstance(statement, Mapping) or statement.get("_type") != STATEMENT_TYPE_V1:
        raise SignatureError("OMS payload is not an in-toto Statement v1")
    if statement.get("predicateType") != OMS_PREDICATE_TYPE:
        raise SignatureError(f"predicate type is {statement.get('predicateType')!r}, not {OMS_PREDICATE_TYPE}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], Mapping):
        raise SignatureError("OMS statement must have exactly one subject")
    predicate = statement.get("predicate")
    if not isinstance(predicate, Mapping):
        raise SignatureError("OMS statement has no predicate")
    serialization = predicate.get("serialization")
    if not isinstance(serialization, Mapping):
        raise SignatureError("OMS predicate has no serialization")
    if serialization.get("method") != "files":
        raise SignatureError(f"OMS serialization {serialization.get('method')!r} is not supported (only 'files')")
    if serialization.get("hash_type") != "sha256":
        raise SignatureError(f"OMS hash type {serialization.get('hash_type')!r} is not supported (only sha256)")
    resources = predicate.get("resources")
    if not isinstance(resources, list) or not resources or not all(isinstance(r, Mapping) for r in resources):
        raise SignatureError("OMS predicate lists no resources")
    ignore = serialization.get("ignore_paths", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise SignatureError("OMS ignore_paths is not a list of strings")
    return subjects[0], resources, ignore


def _signed_files(subject: Mapping[str, Any], resources: list[Mapping[str, Any]]) -> dict[str, str]:
    signed: dict[str, str] = {}
    for rd in resources:
        name, digest = rd.get("name"), rd.get("digest")
        if rd.get("algorithm") != "sha256" or not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise SignatureError(f"OMS resource {name!r} has no sha256 digest")
        if not isinstance(name, str) or not name or name in signed:
            raise SignatureError(f"OMS resource name {name!r} is missing or repeated")
        signed[name] = digest
    digest_set = subject.get("digest")
    subject_digest = digest_set.get("sha256") if isinstance(digest_set, Mapping) else None
    # Model-signing computes the root over the resources as listed; so do we.
    if subject_digest != oms_root_digest(signed.values()):
        raise SignatureError("OMS subject digest does not match its resources (inconsistent manifest)")
    return signed


def _listing(names: Iterable[str]) -> str:
    names = sorted(names)
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return ", ".join(names[:5]) + more


def check_oms_statement(
    statement_bytes: bytes, files: Iterable[tuple[str, str]], *, ignore_unsigned_files: bool = False
) -> None:
    """Match verified OMS statement bytes against the model's ``files`` (path, sha256 hex).

    Files under the recorded ``ignore_paths`` or the default ignores are left out first. Every signed
    file must be present with its digest, and (unless ``ignore_unsigned_files``) no other file may be.
    """
    subject, resources, ignore = _oms_parts(statement_bytes)
    signed = _signed_files(subject, resources)
    ignored = list(ignore) + list(DEFAULT_IGNORE_PATHS)
    present = {p: d for p, d in _check_files(files).items() if not _is_ignored(p, ignored)}
    missing = signed.keys() - present.keys()
    if missing:
        raise SignatureError(f"model is missing signed files: {_listing(missing)}")
    changed = [n for n in signed if present[n] != signed[n]]
    if changed:
        raise SignatureError(f"model files differ from what was signed: {_listing(changed)}")
    extra = present.keys() - signed.keys()
    if extra and not ignore_unsigned_files:
        raise SignatureError(f"model has files that were not signed: {_listing(extra)}")


def verify_oms(
    bundle_bytes: bytes,
    public_key: keys.PublicKey,
    files: Iterable[tuple[str, str]],
    *,
    ignore_unsigned_files: bool = False,
) -> None:
    """Verify a key-signed OMS bundle with ``public_key`` and match it against ``files``.

    ``files`` is every regular file of the model directory as (relative POSIX path, sha256 hex). Leave
    the signature file itself out unless the bundle records it in ``ignore_paths`` (v1.1+ producers do).
    Raises :class:`SignatureError` on a bad signature or any file difference.
    """
    statement_bytes = verify_with_key(bundle_bytes, public_key)
    check_oms_statement(statement_bytes, files, ignore_unsigned_files=ignore_unsigned_files)


def verify_oms_with_ca(
    bundle_bytes: bytes,
    ca_bundle_pem: bytes,
    files: Iterable[tuple[str, str]],
    *,
    at_time: datetime,
    chain_pems: Iterable[bytes] = (),
    ignore_unsigned_files: bool = False,
) -> x509.Certificate:
    """Verify a certificate-signed OMS bundle against trusted CAs and ``files``; returns the leaf."""
    statement_bytes, leaf = verify_with_ca(bundle_bytes, ca_bundle_pem, chain_pems, at_time=at_time)
    check_oms_statement(statement_bytes, files, ignore_unsigned_files=ignore_unsigned_files)
    return leaf
