"""Pull/verify policy files: which signers are accepted and what a model must carry (spec/signatures.md).

The policy file (spec/policy.md) holds ``signers`` (any of them may sign) and ``require`` (a signature,
and attestations by predicate type) beside the lifecycle's ``stages``; :mod:`modelcrate.policy.load` is
its one loader. :func:`check_policy` checks the pull/verify section against a subject's referrers;
:func:`verify_before_pull` does so before any model blob is fetched.
"""

from __future__ import annotations

import json
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
from .verifiers import AnyOf, Verifier


@dataclass(frozen=True)
class Policy:
    """What a serving platform requires of a model (spec/signatures.md, "Policy files").

    ``signers``: any of them may sign. ``require_signature``: a signature (sign/v1 or cosign) must verify.
    ``attestations``: every listed predicate type needs at least one verified attestation.
    ``deny_unsafe_pickle``: a pull refuses the model when a file is an unsafe pickle (spec/scan.md); the
    signature checks here do not read files, the pull applies it to the verified files.
    """

    signers: AnyOf
    require_signature: bool = True
    attestations: tuple[str, ...] = ()
    source: str = "policy"
    deny_unsafe_pickle: bool = False

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


def parse_policy(document: Any, *, base: Path, source: str = "policy") -> Policy:
    """Build a :class:`Policy` from a decoded YAML/JSON document; key files resolve against ``base``.

    The document goes through the one policy loader (:mod:`modelcrate.policy.load`); its errors name
    the key (as ``SOURCE:1:`` since a decoded document has no lines left).
    """
    from ..policy import load as _load  # the loader builds verifiers from this package: import it late

    text = json.dumps(document, sort_keys=False, allow_nan=False, default=str)
    return _load.pull_policy(_load.parse_policy_text(text, base=base, source=source))


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read the pull/verify section of a policy file (spec/policy.md), the same file ``stages`` live in."""
    from ..policy import load as _load

    return _load.pull_policy(_load.load_policy_file(path))


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
