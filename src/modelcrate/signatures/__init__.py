"""Signatures and attestations on any Target: sign, attest, verify, discover (spec/signatures.md).

Every signature or attestation is a *signed record*: a Sigstore bundle v0.3 (a DSSE envelope over an
in-toto Statement v1 whose subject is the model's manifest digest) stored as a referrer manifest of the
model. ``sign`` also stores an OpenSSF model-signing (OMS v1.0) bundle over the model's files, and on
request cosign's legacy simple-signing image at ``sha256-<hex>.sig``.

Verification fails closed. A candidate counts only when (1) its signature verifies under the caller's
policy and (2) the signed statement names this manifest digest and the wanted predicate type. Index
entries and annotations only decide what to try, never what to accept.

Modules: :mod:`.signers` and :mod:`.verifiers` (who signs, whose signatures count), :mod:`.records`
(attach and collect signed records: the one verify path), :mod:`.sign_attest` (sign, attest),
:mod:`.verification` (verify), :mod:`.policy` (policy files), :mod:`.cosign_legacy` (the ``.sig``
image), :mod:`.discovery`, :mod:`.model_signing` (the OMS file beside an unpacked model).
Operations take Targets and plain values, return plain values and never print.

Example:

>>> from modelcrate.content.memory import MemoryStore          # doctest: +SKIP
>>> signer = KeySigner(keys.generate())                         # doctest: +SKIP
>>> sign(target, model_desc, "team/bert", signer, created=now)  # doctest: +SKIP
>>> verify(target, model_desc, "team/bert", KeyVerifier(signer.key.public_key()))[0].signer  # doctest: +SKIP
'key 3b1f…'
"""

from __future__ import annotations

from .bundles import (
    ANN_BUNDLE_CONTENT,
    ANN_PREDICATE_TYPE,
    BUNDLE_MEDIA_TYPE,
    MAX_BUNDLE_BYTES,
    OMS_PREDICATE_TYPE,
    OMS_TITLE,
    SIGNATURE_TYPE,
    read_subject,
)
from .bundles import store_bundle as _store_bundle  # noqa: F401 - the name tests and tools used before the split
from .cosign_legacy import write_cosign_signature
from .discovery import Node, describe_bundle_signer, discover
from .model_signing import (
    ModelSignature,
    check_model_signature_request,
    check_signature_path,
    model_signature,
    oms_inputs,
    prepare_model_signature,
    save_model_signature,
    unpack_with_signature,
    write_model_signature,
)
from .policy import Policy, PolicyResult, check_policy, load_policy, parse_policy, verify_before_pull
from .records import Budget, Collected, Record, attach_record, collect_records, parsed_records
from .results import SignResult, Stored, Verified
from .sign_attest import attest, default_predicate, evaluation_from_metadata, has_default_predicate, sign
from .signers import (
    COSIGN_CERT_ANNOTATION,
    COSIGN_CHAIN_ANNOTATION,
    SIGSTORE_OIDC_URL,
    KeylessSigner,
    KeySigner,
    Signer,
    identity_token,
)
from .verification import verify, verify_attestation
from .verifiers import AnyOf, CAVerifier, KeylessVerifier, KeyVerifier, Verifier

__all__ = [
    "ANN_BUNDLE_CONTENT", "ANN_PREDICATE_TYPE", "BUNDLE_MEDIA_TYPE", "COSIGN_CERT_ANNOTATION",
    "COSIGN_CHAIN_ANNOTATION", "MAX_BUNDLE_BYTES", "OMS_PREDICATE_TYPE", "OMS_TITLE", "SIGNATURE_TYPE",
    "SIGSTORE_OIDC_URL", "AnyOf", "Budget", "CAVerifier", "Collected", "KeySigner", "KeyVerifier", "KeylessSigner",
    "KeylessVerifier", "ModelSignature", "Node", "Policy", "PolicyResult", "Record", "SignResult", "Signer",
    "Stored", "Verified", "Verifier", "attach_record", "attest", "check_model_signature_request", "check_policy",
    "check_signature_path", "collect_records", "default_predicate", "describe_bundle_signer", "discover",
    "evaluation_from_metadata", "has_default_predicate", "identity_token", "load_policy", "model_signature",
    "oms_inputs", "parse_policy", "parsed_records", "prepare_model_signature", "read_subject",
    "save_model_signature", "sign",
    "unpack_with_signature",
    "verify", "verify_attestation", "verify_before_pull", "write_cosign_signature", "write_model_signature",
]
