"""The seam between the lifecycle and the policy: what a promotion asks before it moves a stage.

A :class:`Gate` answers two questions for a stage: who may sign its history records (:meth:`Gate.promoters`)
and whether a model may enter it now (:meth:`Gate.decide`, which gathers and verifies the evidence and
returns every rule's outcome). :class:`NoPolicy` allows everything and is recorded as ``"no policy"``;
the policy package provides the real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..content.target import Target
from ..format.descriptor import Descriptor
from ..signatures import Verifier
from .records import Evidence
from .stages import DEFAULT_STAGES


@dataclass(frozen=True)
class RuleOutcome:
    """One rule of the policy, evaluated: passed (True), failed (False) or not checked here (None, e.g. who
    the promoter is, when nobody is promoting), why, and the digests of the evidence it used."""

    rule: str
    passed: bool | None
    reason: str
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "passed": self.passed, "reason": self.reason, "evidence": list(self.evidence)}


@dataclass(frozen=True)
class Decision:
    """Every rule's outcome for one model entering one stage, and the evidence that satisfied them."""

    rules: tuple[RuleOutcome, ...] = ()
    evidence: tuple[Evidence, ...] = ()

    @property
    def allowed(self) -> bool:
        """Every rule passed: what a promotion needs (a rule not checked is not a pass)."""
        return all(r.passed is True for r in self.rules)

    @property
    def refused(self) -> bool:
        """Some rule failed."""
        return any(r.passed is False for r in self.rules)

    def failures(self) -> list[str]:
        return [f"{r.rule}: {r.reason}" for r in self.rules if r.passed is not True]


@dataclass(frozen=True)
class StageContext:
    """What the lifecycle knows about the model when a gate is asked: the stages whose verified history
    names it now, and the one it is promoted from."""

    in_stages: frozenset[str] = field(default_factory=frozenset)
    promoter: str = ""


class Gate(Protocol):
    @property
    def policy_digest(self) -> str | None:
        """The policy file's digest (recorded in every promotion), or None for no policy."""
        ...

    def stages(self) -> tuple[str, ...]:
        """The stage vocabulary."""
        ...

    def promoters(self, stage: str) -> Verifier | None:
        """Who may sign history records of ``stage``; None when the policy says nothing (anyone may)."""
        ...

    def decide(self, target: Target, subject: Descriptor, name: str, stage: str,
               context: StageContext) -> Decision:
        """Evaluate the rules for ``subject`` entering ``stage``."""
        ...


@dataclass(frozen=True)
class NoPolicy:
    """No policy: every promotion is allowed, recorded as ``"no policy"``; readers must bring keys."""

    stage_names: tuple[str, ...] = DEFAULT_STAGES

    @property
    def policy_digest(self) -> str | None:
        return None

    def stages(self) -> tuple[str, ...]:
        return self.stage_names

    def promoters(self, stage: str) -> Verifier | None:
        return None

    def decide(self, target: Target, subject: Descriptor, name: str, stage: str,
               context: StageContext) -> Decision:
        return Decision()


def trusted_signers(gate: Gate | None, verifier: Verifier | None = None) -> Verifier | None:
    """Whose records count: the keys given, else every signer the gate's policy names; None when neither
    names anyone (a gate without a policy names no signers)."""
    everyone = getattr(gate, "everyone", None)
    return verifier or (everyone() if everyone is not None else None)
