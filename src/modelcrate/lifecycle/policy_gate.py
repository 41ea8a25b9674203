"""A policy file as the lifecycle's :class:`~modelcrate.lifecycle.gate.Gate`: the policy package gathers the
verified evidence (:func:`modelcrate.policy.evidence.gather`) and evaluates the stage's rules; the lifecycle
adds what only it knows: the stages whose verified history names the model, its deprecation, the promoter.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..content.target import Target
from ..format.descriptor import Descriptor
from ..errors import ModelcrateError
from ..policy import Deprecation, evaluate
from ..policy.evaluate import Baseline
from ..policy import Evidence as PolicyEvidence
from ..policy.evidence import gather
from ..policy.load import load_policy_file
from ..policy.rules import PolicyFile, SignerSpec
from ..signatures import SIGNATURE_TYPE, AnyOf, Verifier
from ..signing.approval import APPROVAL_V1
from .deprecation import deprecated_state
from .gate import Decision, RuleOutcome, StageContext
from .reader import read_stage
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
        everyone = self.everyone()
        found = deprecated_state(target, subject, name, everyone) if everyone is not None else None
        deprecated = Deprecation(found.facts.reason, found.record.bundle_digest, found.facts.successor) \
            if found else None
        rules = self.policy.stage(stage)
        baselines = {g.baseline: self.baseline(target, g.baseline) for g in (rules.metrics if rules else ())
                     if g.baseline is not None}
        ev = gather(target, subject, name, self.policy, stage, current_stages=context.in_stages,
                    deprecated=deprecated, promoter=context.promoter or None, baselines=baselines).evidence
        decision = evaluate(self.policy, ev)
        return Decision(tuple(RuleOutcome(r.rule, r.passed, r.reason, r.evidence) for r in decision.results),
                        _evidence_of(ev, set(decision.evidence())))


    def baseline(self, target: Target, stage: str) -> Baseline:
        """What ``stage`` holds now by its verified history (signed by its promoters), for comparisons."""
        promoters = self.promoters(stage)
        if promoters is None:
            return Baseline(stage, None, problem=f"the policy names no promoters for {stage}, so what it holds "
                                                 "cannot be verified")
        try:
            state = read_stage(target, stage, promoters)
        except ModelcrateError as exc:
            return Baseline(stage, None, problem=f"the {stage} history does not verify: {exc}")
        if state.untracked:
            return Baseline(stage, None, problem=state.untracked)
        return Baseline(stage, state.history.current)


def _evidence_of(ev: PolicyEvidence, used: set[str]) -> tuple[Evidence, ...]:
    """The evidence the passing rules relied on, with who signed each (for the promotion record)."""
    out: dict[str, Evidence] = {}
    for s in ev.signatures:
        out.setdefault(s.digest, Evidence("signature", s.digest, s.signer, SIGNATURE_TYPE))
    for a in ev.attestations:
        out.setdefault(a.digest, Evidence("attestation", a.digest, a.signer, a.predicate_type))
    for p in ev.approvals:
        out.setdefault(p.digest, Evidence("approval", p.digest, p.signer, APPROVAL_V1))
    return tuple(e for d, e in out.items() if d in used)
