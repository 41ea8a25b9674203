"""A policy file as the lifecycle's :class:`~modelcrate.lifecycle.gate.Gate`: gather verified evidence about
a model, evaluate the stage's rules with :func:`modelcrate.policy.evaluate.evaluate`, report every rule.

Evidence is verified here, once, against the signers the stage names (package signers, attesters,
approvers, promoters), so a referrer signed by anyone else is not evidence at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..content.target import Target
from ..errors import ModelcrateError
from ..format.descriptor import Descriptor
from ..policy import evaluate as _evaluate
from ..policy.load import load_policy_file
from ..policy.rules import PolicyFile, SignerSpec, StageRules
from ..signatures import SIGNATURE_TYPE, AnyOf, Verifier, collect_records, read_subject
from ..signing.approval import APPROVAL_V1, parse_approval
from ..signing.statement import EVALUATION_V1
from .deprecation import deprecated_state
from .gate import Decision, RuleOutcome, StageContext
from .records import Evidence


def _any_of(specs: tuple[SignerSpec, ...]) -> Verifier | None:
    return AnyOf(tuple(s.verifier for s in specs)) if specs else None


@dataclass(frozen=True)
class PolicyGate:
    """The rules of one policy file, per stage."""

    policy: PolicyFile

    @classmethod
    def load(cls, path: str) -> PolicyGate:
        return cls(load_policy_file(path))

    @property
    def policy_digest(self) -> str | None:
        hexd = self.policy.digest
        return hexd if hexd.startswith("sha256:") else f"sha256:{hexd}"

    def stages(self) -> tuple[str, ...]:
        return self.policy.vocabulary

    def promoters(self, stage: str) -> Verifier | None:
        rules = self.policy.stage(stage)
        return _any_of(rules.promoters) if rules else None

    def everyone(self) -> Verifier | None:
        """Every signer any stage names (who may deprecate, whose records count for status)."""
        specs: dict[str, SignerSpec] = {}
        for rules in self.policy.stages.values():
            for spec in rules.signers():
                specs.setdefault(spec.identity or f"line {spec.line}", spec)
        for spec in self.policy.signers:
            specs.setdefault(spec.identity or f"line {spec.line}", spec)
        return _any_of(tuple(specs.values()))

    def decide(self, target: Target, subject: Descriptor, name: str, stage: str,
               context: StageContext) -> Decision:
        rules = self.policy.stage(stage)
        ev = _gather(target, subject, name, stage, rules, context, self.everyone()) if rules else \
            _evaluate.Evidence(subject.digest, stage)
        decision = _evaluate.evaluate(self.policy, ev)
        return Decision(tuple(RuleOutcome(r.rule, r.passed, r.reason, r.evidence) for r in decision.results),
                        _evidence_of(ev, set(decision.evidence())))


def _records(target: Target, subject: Descriptor, name: str, verifier: Verifier | None, predicate_type: str) -> list:
    if verifier is None:
        return []
    return collect_records(target, subject, name, verifier, predicate_type=predicate_type).records


def _metrics(metadata: dict[str, Any], source: str) -> list[_evaluate.Metric]:
    out = []
    for m in metadata.get("metrics") or []:
        if isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("value"), (int, float)) \
                and not isinstance(m.get("value"), bool):
            out.append(_evaluate.Metric(m["name"], float(m["value"]), source))
    return out


def _gather(target: Target, subject: Descriptor, name: str, stage: str, rules: StageRules,
            context: StageContext, everyone: Verifier | None) -> _evaluate.Evidence:
    signers = _any_of(rules.signatures) or everyone
    attesters = _any_of(rules.attesters) or everyone
    approvers = _any_of(rules.approvals.approvers) if rules.approvals else None
    signatures = tuple(_evaluate.Signature(r.signer, r.descriptor.digest)
                       for r in _records(target, subject, name, signers, SIGNATURE_TYPE))
    attestations = tuple(_evaluate.Attestation(t, r.signer, r.descriptor.digest, r.predicate)
                         for t in dict.fromkeys([*rules.attestations, EVALUATION_V1])
                         for r in _records(target, subject, name, attesters, t))
    approvals = []
    for r in _records(target, subject, name, approvers, APPROVAL_V1):
        try:
            approvals.append(_evaluate.Approval(parse_approval(r.predicate), r.signer, r.descriptor.digest))
        except ModelcrateError:
            continue
    view = read_subject(target, subject)
    metadata = (view.metadata if view is not None else None) or {}
    metrics = _metrics(metadata, subject.digest)
    for a in attestations:
        if a.predicate_type == EVALUATION_V1:
            metrics.extend(_metrics(dict(a.predicate), a.digest))
    found = deprecated_state(target, subject, name, everyone) if everyone is not None else None
    deprecated = _evaluate.Deprecation(found.facts.reason, found.record.descriptor.digest, found.facts.successor) \
        if found else None
    license_ = metadata.get("license") if isinstance(metadata.get("license"), str) else None
    return _evaluate.Evidence(subject.digest, stage, context.in_stages, signatures, attestations, tuple(approvals),
                              tuple(metrics), license_, deprecated, context.promoter or None)


def _evidence_of(ev: _evaluate.Evidence, used: set[str]) -> tuple[Evidence, ...]:
    """The evidence the passing rules relied on, with who signed each (for the promotion record)."""
    out: dict[str, Evidence] = {}
    for s in ev.signatures:
        out.setdefault(s.digest, Evidence("signature", s.digest, s.signer, SIGNATURE_TYPE))
    for a in ev.attestations:
        out.setdefault(a.digest, Evidence("attestation", a.digest, a.signer, a.predicate_type))
    for p in ev.approvals:
        out.setdefault(p.digest, Evidence("approval", p.digest, p.signer, APPROVAL_V1))
    return tuple(e for d, e in out.items() if d in used)
