"""Gather the evidence a stage's rules need from a Target, verifying every piece (the I/O half of policy).

Only verified records become evidence (:func:`modelcrate.signatures.collect_records`): signatures and
approvals under the verifiers the stage names, attestations and evaluations under its attesters (the
stage's ``attesters``, else its ``signatures``, else the file's top-level ``signers``). The model's own
signatures are checked against EVERY signer the stage names, so an approver who also signed the model is
recognised as the signer. Metrics come from the model's metadata (bound to the manifest digest) and
from verified evaluation attestations; the licence from the metadata.

What the lifecycle knows (the stages the digest is in, its deprecation, the promoter) comes in as
arguments; this module does not read stage tags or history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..content.target import Target
from ..errors import SignatureError
from ..format.descriptor import Descriptor
from ..signatures import SIGNATURE_TYPE, AnyOf, Collected, Verifier, collect_records, read_subject
from ..signing import statement as _statement
from ..signing.approval import APPROVAL_V1, parse_approval
from ..signing.attachment import ATTACHMENT_V1, parse_attachment
from .evaluate import Approval, Attestation, Baseline, Deprecation, Document, Evidence, Metric, Signature
from .rules import PolicyFile, SignerSpec, StageRules


@dataclass(frozen=True)
class Gathered:
    """The evidence, and notes on what was looked at but did not count (for diagnostics)."""

    evidence: Evidence
    notes: tuple[str, ...] = ()


def _verifier(specs: Sequence[SignerSpec]) -> Verifier | None:
    return AnyOf(tuple(s.verifier for s in specs)) if specs else None


def attesters(policy: PolicyFile, rules: StageRules) -> tuple[SignerSpec, ...]:
    """Whose attestations and evaluations the stage trusts."""
    return rules.attesters or rules.signatures or policy.signers


class _Collector:
    def __init__(self, target: Target, subject: Descriptor, name: str) -> None:
        self.target, self.subject, self.name = target, subject, name
        self.notes: list[str] = []

    def records(self, specs: Sequence[SignerSpec], predicate_type: str) -> Collected | None:
        verifier = _verifier(specs)
        if verifier is None:
            return None
        found = collect_records(self.target, self.subject, self.name, verifier, predicate_type=predicate_type)
        self.notes.extend(f"{predicate_type}: not counted: {r}" for r in found.rejected)
        self.notes.extend(f"{predicate_type}: skipped: {s}" for s in found.skipped)
        return found


def metadata_metrics(metadata: Mapping[str, Any] | None, source: str) -> list[Metric]:
    """The numeric metrics of a metadata document (``metrics: [{name, value, ...}]``)."""
    return _metrics((metadata or {}).get("metrics"), source)


def _metrics(items: Any, source: str, phase: str | None = None, time: str | None = None) -> list[Metric]:
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        name, value = item.get("name"), item.get("value")
        if isinstance(name, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(Metric(name, float(value), source, phase, time))
    return out


def evaluation_metrics(predicate: Mapping[str, Any], source: str) -> list[Metric]:
    """The metrics of a verified evaluation predicate, with its phase and the time they describe."""
    window = predicate.get("window")
    end = window.get("end") if isinstance(window, Mapping) else None
    when = end if isinstance(end, str) else predicate.get("created")
    phase = predicate.get("phase")
    return _metrics(predicate.get("metrics"), source, phase if isinstance(phase, str) else None,
                    when if isinstance(when, str) else None)


def phase_of(metric: Metric, digest: str) -> str:
    """``metadata`` for the manifest's own metrics, else the evaluation's phase (``evaluation`` when unnamed)."""
    return "metadata" if metric.source == digest else (metric.phase or "evaluation")


def verified_metrics(target: Target, subject: Descriptor, name: str, verifier: Verifier | None) -> list[Metric]:
    """Every metric known about ``subject``, best first: production evaluations, then other verified
    evaluations (newest first in each), then the metadata's (bound to the manifest digest)."""
    found: list[Metric] = []
    if verifier is not None:
        for r in collect_records(target, subject, name, verifier, predicate_type=_statement.EVALUATION_V1).records:
            found += evaluation_metrics(r.predicate, r.bundle_digest)
    found.sort(key=lambda m: m.time or "", reverse=True)
    found.sort(key=lambda m: m.phase != "production")
    view = read_subject(target, subject)
    return found + metadata_metrics(view.metadata if view is not None else None, subject.digest)


def gather(target: Target, subject: Descriptor, name: str, policy: PolicyFile, stage: str, *,
           current_stages: Iterable[str] = (), deprecated: Deprecation | bool | None = None,
           promoter: str | None = None, now: datetime | None = None,
           baselines: Mapping[str, Baseline] | None = None) -> Gathered:
    """Verified evidence about ``subject`` for a promotion into ``stage`` under ``policy``."""
    base = Evidence(subject.digest, stage, frozenset(current_stages), deprecated=deprecated, promoter=promoter)
    rules = policy.stage(stage)
    if rules is None:
        return Gathered(base)
    c = _Collector(target, subject, name)
    signed = c.records(rules.signers(), SIGNATURE_TYPE)
    signatures = tuple(Signature(r.signer, r.bundle_digest) for r in (signed.records if signed else []))
    trusted = attesters(policy, rules)
    attestations = []
    for predicate_type in rules.attestations:
        found = c.records(trusted, predicate_type)
        attestations += [Attestation(predicate_type, r.signer, r.bundle_digest, r.predicate)
                         for r in (found.records if found else [])]
    view = read_subject(target, subject)
    metadata = view.metadata if view is not None else None
    metrics = metadata_metrics(metadata, subject.digest) if rules.metrics else []
    if rules.metrics:
        evaluations = c.records(trusted, _statement.EVALUATION_V1)
        for r in evaluations.records if evaluations else []:
            metrics += evaluation_metrics(r.predicate, r.bundle_digest)
    approvals = _approvals(c, rules.approvals.approvers) if rules.approvals else ()
    license_ = (metadata or {}).get("license")
    documents = _documents(c, trusted) if rules.documents else ()
    compared = {}
    for stage_name, b in (baselines or {}).items():
        found = verified_metrics(target, target.resolve(b.digest), name, _verifier(trusted)) \
            if b.digest is not None and b.problem is None else []
        compared[stage_name] = Baseline(b.stage, b.digest, tuple(found), b.problem)
    evidence = Evidence(subject.digest, stage, base.current_stages, signatures, tuple(attestations), approvals,
                        tuple(metrics), license_ if isinstance(license_, str) else None, deprecated, promoter,
                        now or datetime.now(UTC), documents=documents, baselines=compared,
                        unsafe_pickles=_unsafe_pickles(target, subject, name) if rules.deny_unsafe_pickle else None)
    return Gathered(evidence, tuple(c.notes))


def _documents(c: _Collector, trusted: Sequence[SignerSpec]) -> tuple[Document, ...]:
    found = c.records(trusted, ATTACHMENT_V1)
    out = []
    for r in found.records if found else []:
        try:
            out.append(Document(parse_attachment(r.predicate).doc_type, r.bundle_digest, r.signer))
        except SignatureError as exc:
            c.notes.append(f"{ATTACHMENT_V1}: not counted: {r.bundle_digest}: {exc}")
    return tuple(out)


def _unsafe_pickles(target: Target, subject: Descriptor, name: str) -> tuple[str, ...]:
    """The scan's reasons to refuse the model's files; every layer is read to its end and checked against
    its digest, so the verdict is about the bytes a consumer will get."""
    from ..scan import policy_gate, scan_reference

    return tuple(policy_gate(scan_reference(target, subject, name, verify=True)))


def promoter_identity(bundle_bytes: bytes, rules: StageRules) -> str | None:
    """The identity the stage's promoters report for a signed (not yet stored) promotion bundle, or None
    when no listed promoter's verifier accepts it. Lets a promotion be evaluated with the verified
    promoter before its record is written."""
    verifier = _verifier(rules.promoters)
    if verifier is None:
        return None
    try:
        return verifier.verify_bundle(bundle_bytes)[1]
    except SignatureError:
        return None


def _approvals(c: _Collector, approvers: Sequence[SignerSpec]) -> tuple[Approval, ...]:
    found = c.records(approvers, APPROVAL_V1)
    out = []
    for r in found.records if found else []:
        try:
            out.append(Approval(parse_approval(r.predicate), r.signer, r.bundle_digest))
        except SignatureError as exc:
            c.notes.append(f"{APPROVAL_V1}: not counted: {r.bundle_digest}: {exc}")
    return tuple(out)
