"""Approvals and policy checks by reference string: ``approve``, ``reject``, ``check_policy``.

A REF with a registry host is that registry's repository; without one (or with ``local=True``) the local
store. Each call opens the Target, resolves REF to one manifest digest (a ``tag@digest`` whose tag moved
is refused) and works on that digest only, so an approval can never apply to another version than the
one resolved.

>>> from modelcrate import governance                                          # doctest: +SKIP
>>> governance.approve("localhost:5000/team/bert:1.0", stage="production", signer=alice)   # doctest: +SKIP
>>> governance.check_policy("localhost:5000/team/bert:1.0", stage="production",
...                         policy="policy.yaml").allowed                        # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from datetime import UTC, datetime

from . import api
from .config import Config
from .content.target import Target
from .errors import NotFound, UsageError
from .policy import approvals as _approvals
from .policy.evaluate import Decision, Deprecation, Evidence, evaluate
from .policy.evidence import gather
from .policy.load import load_policy_file
from .policy.rules import DEFAULT_STAGES, PolicyFile
from .signatures import Signer, Stored, read_subject
from .signing.predicates import check_name


@dataclass(frozen=True)
class Recorded:
    """An approval or rejection that was written."""

    reference: str
    digest: str
    stage: str
    decision: str
    signer: str
    stored: Stored

    def to_dict(self) -> dict[str, str]:
        return {"reference": self.reference, "digest": self.digest, "stage": self.stage, "decision": self.decision,
                "signer": self.signer, "record": self.stored.descriptor.digest}


@dataclass(frozen=True)
class PolicyCheck:
    """The outcome of :func:`check_policy`: the decision and notes on evidence that did not count."""

    reference: str
    decision: Decision
    notes: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    def to_dict(self) -> dict[str, object]:
        return {"reference": self.reference, **self.decision.to_dict(), "notes": list(self.notes)}


def _policy(policy: str | os.PathLike[str] | PolicyFile | None) -> PolicyFile | None:
    return policy if isinstance(policy, PolicyFile) or policy is None else load_policy_file(policy)


def _decide(ref: str, decision: str, *, stage: str, signer: Signer, comment: str | None,
            policy: str | os.PathLike[str] | PolicyFile | None, local: bool, config: Config | None,
            created: datetime | None) -> Recorded:
    check_name("stage", stage)
    loaded = _policy(policy)
    if loaded is not None and loaded.stage(stage) is None:
        raise UsageError(f"{stage!r} is not a stage of {loaded.source} (its stages: {', '.join(loaded.vocabulary)})")
    with api.subject(ref, write=True, local=local, config=config) as (name, target, desc):
        if read_subject(target, desc) is None:
            raise UsageError(f"{ref} ({desc.digest}) is not a model: only models are approved or rejected")
        stored = _approvals.record_decision(target, desc, name, signer, stage=stage, decision=decision,
                                            created=created or datetime.now(UTC), comment=comment)
    return Recorded(ref, desc.digest, stage, decision, signer.description, stored)


def approve(ref: str, *, stage: str, signer: Signer, comment: str | None = None,
            policy: str | os.PathLike[str] | PolicyFile | None = None, local: bool = False,
            config: Config | None = None, created: datetime | None = None) -> Recorded:
    """Sign and attach an approval of the model REF resolves to, for ``stage``.

    With ``policy``, the stage must be one of its stages. Whether the approval counts is decided when a
    promotion is checked: only an approver the policy lists, for this digest and this stage.
    """
    return _decide(ref, "approve", stage=stage, signer=signer, comment=comment, policy=policy, local=local,
                   config=config, created=created)


def reject(ref: str, *, stage: str, signer: Signer, comment: str | None = None,
           policy: str | os.PathLike[str] | PolicyFile | None = None, local: bool = False,
           config: Config | None = None, created: datetime | None = None) -> Recorded:
    """Sign and attach a rejection: it blocks promotion into ``stage`` until the same identity approves later."""
    return _decide(ref, "reject", stage=stage, signer=signer, comment=comment, policy=policy, local=local,
                   config=config, created=created)


def tagged_stages(target: Target, digest: str, stages: Iterable[str]) -> frozenset[str]:
    """The stages whose stage tag names ``digest`` now.

    A tag alone is what the registry says, not a verified history: the lifecycle's checked history is the
    stronger answer and callers that have it pass ``current_stages`` instead.
    """
    found = set()
    for stage in stages:
        try:
            if target.resolve(stage).digest == digest:
                found.add(stage)
        except NotFound:
            continue
    return frozenset(found)


def _baselines(target: Target, policy: PolicyFile, stage: str) -> dict[str, Any]:
    """What the stages a comparison gate names hold now (by their verified histories)."""
    from .lifecycle.policy_gate import PolicyGate  # the lifecycle reads histories; imported when comparing

    rules = policy.stage(stage)
    named = {g.baseline for g in (rules.metrics if rules else ()) if g.baseline is not None}
    return {s: PolicyGate(policy).baseline(target, s) for s in named}


def check_policy(ref: str, *, stage: str, policy: str | os.PathLike[str] | PolicyFile | None = None,
                 promoter: str | None = None, current_stages: Iterable[str] | None = None,
                 deprecated: Deprecation | bool | None = None, local: bool = False,
                 config: Config | None = None) -> PolicyCheck:
    """Evaluate ``policy``'s rules for ``stage`` against the model REF resolves to; never raises for a refusal.

    ``promoter`` is the identity that would sign the promotion (as its verifier reports it, e.g.
    ``key 3b1f…``); without it the rules that need it are reported as not checked.
    """
    check_name("stage", stage)
    loaded = _policy(policy)
    with api.subject(ref, write=False, local=local, config=config) as (name, target, desc):
        if current_stages is None:
            current_stages = tagged_stages(target, desc.digest, loaded.vocabulary if loaded else DEFAULT_STAGES)
        if loaded is None:
            return PolicyCheck(ref, evaluate(None, Evidence(desc.digest, stage, frozenset(current_stages))))
        gathered = gather(target, desc, name, loaded, stage, current_stages=current_stages,
                          deprecated=deprecated, promoter=promoter, baselines=_baselines(target, loaded, stage))
    return PolicyCheck(ref, evaluate(loaded, gathered.evidence), gathered.notes)

