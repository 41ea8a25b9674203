"""``verify`` and ``verify_attestation``: the signed records of one type on a subject, or a refusal.

Fails closed. A candidate counts only when (1) its signature verifies under the caller's policy and
(2) the signed statement names this manifest digest and the wanted predicate type. Index entries and
annotations only decide what to try, never what to accept (:mod:`.records`). Signatures also count
cosign's legacy ``.sig`` layers (:mod:`.cosign_legacy`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..content import referrers as _referrers
from ..content.target import Target
from ..errors import SignatureError
from ..format.descriptor import Descriptor
from ..signing import statement as _statement
from .bundles import SIGNATURE_TYPE, reasons_text
from .cosign_legacy import verify_legacy
from .records import DEFAULT_BUDGET, Budget, Record, collect_listed, signed_time
from .results import Verified
from .verifiers import Verifier


@dataclass(frozen=True)
class Outcome:
    """Everything one collection found: what passed, why others failed, what was passed over."""

    passed: list[Verified]
    rejected: list[str]
    skipped: list[str]
    checked: int


def verified(record: Record) -> Verified:
    """A bundle record as ``verify`` reports it."""
    return Verified("bundle", record.descriptor.digest, record.predicate_type, record.signer, signed_time(record),
                    record.signed_name, record.statement, claimed_created=record.created)


def collect(target: Target, subject: Descriptor, verifier: Verifier, predicate_type: str, *,
            budget: Budget = DEFAULT_BUDGET) -> Outcome:
    """Bundle records of ``predicate_type`` (a URI), plus cosign's legacy layers when it is the signature type."""
    listed, notes = _referrers.candidates(target, subject)
    found = collect_listed(target, subject, verifier, predicate_type, [c for c in listed if not c.legacy], notes,
                           budget)
    outcome = Outcome([verified(r) for r in found.records], list(found.rejected), list(found.skipped), found.checked)
    if predicate_type == SIGNATURE_TYPE:
        for candidate in (c for c in listed if c.legacy):
            passed, reasons, checked, skipped = verify_legacy(target, candidate, subject, verifier, budget)
            outcome = Outcome([*outcome.passed, *passed], [*outcome.rejected, *reasons],
                              [*outcome.skipped, *skipped], outcome.checked + checked)
    return outcome


def _what(predicate_type: str) -> str:
    return "signature" if predicate_type == SIGNATURE_TYPE else f"{predicate_type} attestation"


def failure(name: str, subject: Descriptor, predicate_type: str, verifier: Verifier, outcome: Outcome) -> str:
    """One line saying why nothing of ``predicate_type`` passed."""
    what = _what(predicate_type)
    ignored = f" (ignored: {reasons_text(outcome.skipped)})" if outcome.skipped else ""
    if not outcome.checked:
        return f"no {what} found for {name}@{subject.digest}{ignored}"
    return (f"no valid {what} by {verifier.description} for {name}@{subject.digest} "
            f"({outcome.checked} checked: {reasons_text(outcome.rejected)}){ignored}")


def verify(target: Target, subject: Descriptor, name: str, verifier: Verifier, *,
           predicate_type: str = SIGNATURE_TYPE) -> list[Verified]:
    """Every signature (or attestation of ``predicate_type``) on ``subject`` that ``verifier`` accepts.

    Fails closed: raises :class:`SignatureError` when none passes, listing why each candidate failed
    (``no signature found for NAME@DIGEST`` when there is none at all). ``name`` is used in messages; the
    signed subject name is reported (``Verified.signed_name``), not enforced: the digest is the binding,
    so signatures stay valid across copies to other repositories.
    """
    predicate_type = _statement.predicate_type_uri(predicate_type)
    outcome = collect(target, subject, verifier, predicate_type)
    if not outcome.passed:
        hint = ("sign it with `modelcrate sign`" if predicate_type == SIGNATURE_TYPE
                else "attach one with `modelcrate attest`") if not outcome.checked else \
            "check the key or identity you verify with; the model may have been tampered with"
        raise SignatureError(failure(name, subject, predicate_type, verifier, outcome), hint=hint)
    return outcome.passed


def verify_attestation(target: Target, subject: Descriptor, name: str, verifier: Verifier,
                       predicate_type: str) -> list[Verified]:
    """The attestations of ``predicate_type`` (``provenance``, ``evaluation`` or a URI) that pass.

    See :func:`verify`: the same candidates, checks and failure messages.
    """
    return verify(target, subject, name, verifier, predicate_type=predicate_type)
