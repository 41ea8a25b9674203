"""Pull/verify policy files: which signers are accepted and what a model must carry (spec/signatures.md).

One YAML file: ``version: 1``, ``signers`` (any of them may sign) and ``require`` (a signature, and
attestations by predicate type). :func:`check_policy` checks it against a subject's referrers;
:func:`verify_before_pull` does so before any model blob is fetched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..content.target import Target
from ..errors import PolicyViolation, SignatureError, UsageError
from ..format.descriptor import Descriptor
from ..signing import statement as _statement
from .bundles import SIGNATURE_TYPE
from .results import Verified
from .verification import collect, failure, verify
from .verifiers import AnyOf, CAVerifier, KeylessVerifier, KeyVerifier, Verifier


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
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{where}: cannot read {path}: {exc.strerror}") from None


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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the policy {path}: {exc.strerror}") from None
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
        outcome = collect(target, subject, policy.signers, predicate_type)
        if not outcome.passed:
            unmet.append(failure(name, subject, predicate_type, policy.signers, outcome))
        elif predicate_type == SIGNATURE_TYPE and policy.require_signature:
            signatures = outcome.passed
        else:
            found[predicate_type] = tuple(outcome.passed)
    if unmet:
        raise PolicyViolation(f"{policy.source} is not satisfied: " + " | ".join(unmet),
                              hint="the model is refused; sign or attest it as the policy requires")
    return PolicyResult(tuple(signatures), found)


def verify_before_pull(remote: Target, desc: Descriptor, name: str, policy: Policy | Verifier) -> list[Verified]:
    """Verify ``desc`` against the remote's own referrers before any model blob is fetched.

    With a :class:`Policy` the failure is :class:`PolicyViolation`, with a plain verifier (one key)
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
