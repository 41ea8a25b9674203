"""Decide whether a model may enter a stage: the policy's rules over already-verified evidence. Pure.

Every input here was verified before it arrived (:mod:`.evidence` gathers it): a signature, attestation
or approval in :class:`Evidence` passed its signature check and names this model's digest. This module
only decides, rule by rule, and says why, naming the evidence (referrer digests) each rule relied on.

Separation of duties: an approval counts only from an approver listed in the rule, for this digest and
this stage, whose latest decision is "approve"; not from anyone who signed the model (unless
``distinct_from_signer: false``), nor from the promoter (unless ``distinct_from_promoter: false``);
each identity counts once. A rejection by a listed approver blocks until that same identity approves
later. Rules that need the promoter report ``passed=None`` when none is given; :attr:`Decision.allowed`
needs every rule to pass, :attr:`Decision.refused` any to fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..signing.approval import ApprovalFields
from .gates import GateSyntaxError, MetricGate, license_allowed
from .rules import ApprovalRule, PolicyFile, SignerSpec, StageRules


# --- evidence ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """A verified signature on the model: who signed it and the referrer that holds it."""

    signer: str
    digest: str


@dataclass(frozen=True)
class Attestation:
    """A verified attestation about the model."""

    predicate_type: str
    signer: str
    digest: str
    predicate: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Approval:
    """A verified approval or rejection record: its checked fields, its verified signer, its referrer."""

    fields: ApprovalFields
    signer: str
    digest: str

    @property
    def time(self) -> datetime:
        return self.fields.time


@dataclass(frozen=True)
class Metric:
    """One reported metric value; ``source`` is the model digest (its metadata) or an evaluation's referrer."""

    name: str
    value: float
    source: str
    phase: str | None = None  # an evaluation's phase (e.g. production); None for the metadata
    time: str | None = None  # when it was measured (the evaluation's window end, else its created time)


@dataclass(frozen=True)
class Baseline:
    """What another stage holds now, for gates like ``accuracy >= production.accuracy - 0.01``:
    the model's digest (None when the stage is empty) and its verified metrics, best first (production
    monitoring before pre-release evaluations before the metadata, newest first within each)."""

    stage: str
    digest: str | None
    metrics: tuple[Metric, ...] = ()
    problem: str | None = None  # why the stage's content could not be established (then nothing compares)


@dataclass(frozen=True)
class Document:
    """A verified attachment record of the model: its document type, the record's bundle, who signed it."""

    doc_type: str
    digest: str
    signer: str


@dataclass(frozen=True)
class Deprecation:
    """A verified deprecation of the model."""

    reason: str
    digest: str
    successor: str | None = None


@dataclass(frozen=True)
class Evidence:
    """Everything known and verified about one model digest, for a promotion into ``stage``.

    ``current_stages``: the stages whose (verified) current entry is this digest. ``promoter``: the
    identity that will sign the promotion record, as its verifier reports it, or None if unknown.
    ``deprecated``: a verified deprecation record, True when deprecated without one, or None/False.
    ``now``: the evaluation time; an approval dated after it (beyond :data:`CLOCK_SKEW`) does not count,
    while a rejection dated after it still blocks (record times are claimed by their signers).
    ``unsafe_pickles``: one reason per file the unsafe-pickle scan refused (empty: none), or None when the
    model's files were not scanned.
    """

    digest: str
    stage: str
    current_stages: frozenset[str] = frozenset()
    signatures: tuple[Signature, ...] = ()
    attestations: tuple[Attestation, ...] = ()
    approvals: tuple[Approval, ...] = ()
    metrics: tuple[Metric, ...] = ()
    license: str | None = None
    deprecated: Deprecation | bool | None = None
    promoter: str | None = None
    now: datetime | None = None
    unsafe_pickles: tuple[str, ...] | None = None
    documents: tuple[Document, ...] = ()
    baselines: Mapping[str, Baseline] = field(default_factory=dict)


CLOCK_SKEW = timedelta(minutes=5)


# --- decision ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome: True passed, False failed, None not checked (needs the promoter)."""

    rule: str
    passed: bool | None
    reason: str
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        status = {True: "pass", False: "fail", None: "skip"}[self.passed]
        return {"rule": self.rule, "status": status, "reason": self.reason, "evidence": list(self.evidence)}


@dataclass(frozen=True)
class Decision:
    """Every rule of the stage, evaluated."""

    stage: str
    digest: str
    policy_digest: str | None
    results: tuple[RuleResult, ...]

    @property
    def failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.passed is False)

    @property
    def refused(self) -> bool:
        return bool(self.failures)

    @property
    def allowed(self) -> bool:
        """Every rule passed (a rule not checked is not a pass: promotions need this)."""
        return all(r.passed is True for r in self.results)

    def evidence(self) -> tuple[str, ...]:
        """The digests every passed rule relied on, once each, in rule order."""
        return tuple(dict.fromkeys(d for r in self.results if r.passed for d in r.evidence))

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "digest": self.digest, "policyDigest": self.policy_digest,
                "allowed": self.allowed, "refused": self.refused, "rules": [r.to_dict() for r in self.results]}


def evaluate(policy: PolicyFile | None, evidence: Evidence) -> Decision:
    """Evaluate the rules of ``evidence.stage`` in ``policy`` (None: no policy, nothing required)."""
    if policy is None:
        return Decision(evidence.stage, evidence.digest, None,
                        (RuleResult("policy", True, "no policy: nothing is required"),))
    rules = policy.stage(evidence.stage)
    if rules is None:
        result = RuleResult("stage", False, f"{evidence.stage!r} is not a stage of {policy.source} "
                                            f"(its stages: {', '.join(policy.vocabulary)})")
        return Decision(evidence.stage, evidence.digest, policy.digest, (result,))
    return Decision(evidence.stage, evidence.digest, policy.digest, tuple(_results(rules, evidence)))


def _results(rules: StageRules, ev: Evidence) -> list[RuleResult]:
    out = [_deprecation(rules, ev)]
    if rules.predecessors is not None:
        out.append(_predecessors(rules.predecessors, ev))
    if rules.signatures:
        out.append(_signatures(rules.signatures, ev))
    out.extend(_attestation(t, ev) for t in rules.attestations)
    out.extend(_metric(g, ev) if g.baseline is None else _comparison(g, ev) for g in rules.metrics)
    out.extend(_document(t, ev) for t in rules.documents)
    if rules.licenses:
        out.append(_license(rules.licenses, ev))
    if rules.deny_unsafe_pickle:
        out.append(_unsafe_pickles(ev))
    if rules.approvals is not None:
        out.extend(_approvals(rules.approvals, ev))
    if rules.promoters:
        out.append(_promoter(rules.promoters, ev))
    return out


def _deprecation(rules: StageRules, ev: Evidence) -> RuleResult:
    if not ev.deprecated:
        return RuleResult("deprecated", True, "the model is not deprecated")
    record = ev.deprecated if isinstance(ev.deprecated, Deprecation) else None
    why = f": {record.reason}" + (f" (successor {record.successor})" if record.successor else "") if record else ""
    digests = (record.digest,) if record else ()
    if rules.allow_deprecated:
        return RuleResult("deprecated", True, f"deprecated{why}; allowed by allow_deprecated", digests)
    return RuleResult("deprecated", False, f"the model is deprecated{why}", digests)


def _predecessors(allowed: Sequence[str], ev: Evidence) -> RuleResult:
    rule = f"from {', '.join(allowed)}"
    now = sorted(ev.current_stages & set(allowed))
    if now:
        return RuleResult(rule, True, f"the model is in {', '.join(now)}")
    where = ", ".join(sorted(ev.current_stages)) or "no stage"
    return RuleResult(rule, False, f"the model must be in {' or '.join(allowed)} first; it is in {where}")


def _names(specs: Sequence[SignerSpec]) -> str:
    return ", ".join(s.identity or f"CA at line {s.line}" for s in specs)


def _signatures(specs: Sequence[SignerSpec], ev: Evidence) -> RuleResult:
    good = [s for s in ev.signatures if any(spec.matches(s.signer) for spec in specs)]
    if good:
        return RuleResult("signatures", True, f"signed by {', '.join(dict.fromkeys(s.signer for s in good))}",
                          tuple(s.digest for s in good))
    others = f" (signed only by {', '.join(dict.fromkeys(s.signer for s in ev.signatures))})" if ev.signatures else ""
    return RuleResult("signatures", False, f"no valid signature by {_names(specs)}{others}")


def _present(rule: str, found: Sequence[Attestation | Document], verb: str, missing: str) -> RuleResult:
    """A rule met by any verified record in ``found``: who signed them, or what is missing."""
    if found:
        return RuleResult(rule, True, f"{verb} by {', '.join(dict.fromkeys(x.signer for x in found))}",
                          tuple(x.digest for x in found))
    return RuleResult(rule, False, missing)


def _attestation(predicate_type: str, ev: Evidence) -> RuleResult:
    return _present(f"attestation {predicate_type}", [a for a in ev.attestations if a.predicate_type == predicate_type],
                    "attested", f"no verified {predicate_type} attestation by an allowed signer")


def _metric(gate: MetricGate, ev: Evidence) -> RuleResult:
    rule = f"metric {gate.text}"
    values = [m for m in ev.metrics if m.name == gate.metric]
    if not values:
        return RuleResult(rule, False, f"no {gate.metric} value in the metadata or a verified evaluation")
    failing = [m for m in values if not gate.holds(m.value)]
    shown = ", ".join(f"{m.value:g}" for m in (failing or values))
    sources = tuple(dict.fromkeys(m.source for m in (failing or values)))
    if failing:
        return RuleResult(rule, False, f"{gate.metric} is {shown}", sources)
    return RuleResult(rule, True, f"{gate.metric} is {shown}", sources)


def _where(m: Metric, digest: str | None) -> str:
    kind = "metadata" if m.source == digest else (f"{m.phase} evaluation" if m.phase else "evaluation")
    return f"{kind} {m.source[:19]}…" + (f" at {m.time}" if m.time else "")


def _comparison(gate: MetricGate, ev: Evidence) -> RuleResult:
    """A candidate metric against what the baseline stage's model reports now; both numbers and where each
    came from are in the reason."""
    rule = f"metric {gate.text}"
    base = ev.baselines.get(gate.baseline or "")
    if base is None or base.problem is not None:
        why = base.problem if base is not None else f"what {gate.baseline} holds was not established"
        return RuleResult(rule, False, f"nothing to compare with: {why}")
    if base.digest is None:  # its verified history says it is empty: the first model has no incumbent
        return RuleResult(rule, True, f"{gate.baseline} holds no model (by its verified history): nothing to "
                                      "compare with")
    ref = next((m for m in base.metrics if m.name == gate.baseline_metric), None)
    if ref is None:
        return RuleResult(rule, False, f"the {gate.baseline} model {base.digest[:19]}… reports no verified "
                                       f"{gate.baseline_metric}")
    values = [m for m in ev.metrics if m.name == gate.metric]
    if not values:
        return RuleResult(rule, False, f"no {gate.metric} value for the candidate in the metadata or a verified "
                                       "evaluation")
    bound = gate.bound(ref.value)
    failing = [m for m in values if not gate.holds(m.value, ref.value)]
    shown = failing or values
    mine = "; ".join(f"{m.value:g} ({_where(m, ev.digest)})" for m in shown)
    theirs = (f"{gate.baseline}.{gate.baseline_metric} is {ref.value:g} ({_where(ref, base.digest)} of "
              f"{base.digest[:19]}… in {gate.baseline} now)")
    offset = f" {'-' if gate.threshold < 0 else '+'} {abs(gate.threshold):g} = {bound:g}" if gate.threshold else ""
    reason = f"candidate {gate.metric} {mine}; {theirs}; needs {gate.op} {ref.value:g}{offset}"
    return RuleResult(rule, not failing, reason, tuple(dict.fromkeys([*(m.source for m in shown), ref.source])))


def _document(doc_type: str, ev: Evidence) -> RuleResult:
    return _present(f"document {doc_type}", [d for d in ev.documents if d.doc_type == doc_type], "attached",
                    f"no {doc_type} document attached and signed by an allowed attester")


def _license(allowed: Sequence[str], ev: Evidence) -> RuleResult:
    if not ev.license:
        return RuleResult("licenses", False, "the metadata names no license")
    try:
        ok = license_allowed(ev.license, allowed)
    except GateSyntaxError as exc:
        return RuleResult("licenses", False, f"license {ev.license!r} is not an SPDX expression: {exc}")
    verdict = "is allowed" if ok else f"is not in the allow-list ({', '.join(allowed)})"
    return RuleResult("licenses", ok, f"license {ev.license} {verdict}", (ev.digest,))


def _unsafe_pickles(ev: Evidence) -> RuleResult:
    rule = "formats deny_unsafe_pickle"
    if ev.unsafe_pickles is None:
        return RuleResult(rule, False, "the model's files were not scanned for unsafe pickles")
    if ev.unsafe_pickles:
        return RuleResult(rule, False, "; ".join(ev.unsafe_pickles)[:600], (ev.digest,))
    return RuleResult(rule, True, "no file is a pickle that imports anything unsafe", (ev.digest,))


def _latest_per_identity(rule: ApprovalRule, ev: Evidence) -> dict[str, Approval]:
    """The latest record per listed approver for this digest and stage (a rejection wins a tie)."""
    latest: dict[str, Approval] = {}
    for record in ev.approvals:
        f = record.fields
        if f.stage != ev.stage or f.subject_digest != ev.digest:
            continue  # about another stage or another model: never counts
        if not any(spec.matches(record.signer) for spec in rule.approvers):
            continue
        if ev.now is not None and f.decision == "approve" and f.time > ev.now + CLOCK_SKEW:
            continue  # dated in the future: it would outrank any rejection its signer makes until then
        key = (record.time, record.fields.decision == "reject", record.digest)
        held = latest.get(record.signer)
        if held is None or key > (held.time, held.fields.decision == "reject", held.digest):
            latest[record.signer] = record
    return latest


def _approvals(rule: ApprovalRule, ev: Evidence) -> list[RuleResult]:
    latest = _latest_per_identity(rule, ev)
    rejections = [r for r in latest.values() if r.fields.decision == "reject"]
    if rejections:
        why = "; ".join(f"{r.signer} at {r.fields.time.isoformat()}" + (f": {r.fields.comment}" if r.fields.comment
                                                                        else "") for r in rejections)
        blocked = RuleResult("rejections", False, f"rejected by {why} (a later approval by the same identity "
                                                  "lifts it)", tuple(r.digest for r in rejections))
    else:
        blocked = RuleResult("rejections", True, "no standing rejection")
    signers = {s.signer for s in ev.signatures}
    counted, excluded = [], []
    for identity, record in sorted(latest.items()):
        if record.fields.decision != "approve":
            continue
        if rule.distinct_from_signer and identity in signers:
            excluded.append(f"{identity} signed the model")
        elif rule.distinct_from_promoter and ev.promoter is not None and identity == ev.promoter:
            excluded.append(f"{identity} is the promoter")
        else:
            counted.append(record)
    note = f" (not counted: {'; '.join(excluded)})" if excluded else ""
    rule_name = f"approvals {rule.count}"
    digests = tuple(r.digest for r in counted)
    who = ", ".join(r.signer for r in counted) or "nobody"
    if len(counted) < rule.count:
        return [blocked, RuleResult(rule_name, False, f"{len(counted)} of {rule.count} approvals for {ev.stage} "
                                                      f"(by {who}){note}", digests)]
    if rule.distinct_from_promoter and ev.promoter is None and len(counted) - 1 < rule.count:
        return [blocked, RuleResult(rule_name, None, f"{len(counted)} of {rule.count} approvals by {who}{note}; "
                                                     "whether the promoter is among them is checked when "
                                                     "promoting", digests)]
    return [blocked, RuleResult(rule_name, True, f"approved by {who}{note}", digests)]


def _promoter(specs: Sequence[SignerSpec], ev: Evidence) -> RuleResult:
    if ev.promoter is None:
        return RuleResult("promoters", None, f"checked when promoting: allowed promoters are {_names(specs)}")
    if any(spec.matches(ev.promoter) for spec in specs):
        return RuleResult("promoters", True, f"{ev.promoter} may promote into {ev.stage}")
    return RuleResult("promoters", False, f"{ev.promoter} may not promote into {ev.stage} "
                                          f"(allowed: {_names(specs)})")
