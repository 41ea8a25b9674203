"""Deployment records: "this digest runs in this environment since T" (and "stopped at T"), signed and
attached to the model (spec/deployment.md).

An environment runs one model at a time: a ``record`` event puts its digest in the environment (replacing
whatever ran there), an ``end`` event of the digest running there empties it. Replaying the verified
events of every version in time order answers "what runs where now" and "what ran where at T".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ..content.referrers import candidates
from ..content.target import Target
from ..errors import ModelcrateError, PolicyViolation
from ..format.descriptor import Descriptor
from ..lifecycle.gate import Gate, trusted_signers
from ..lifecycle.reader import UnverifiedRecords, read_stage
from ..signatures import ANN_PREDICATE_TYPE, AnyOf, Signer, Stored, Verifier, attach_record, parsed_records
from ..signing.deployment import DEPLOYMENT_V1, DeploymentFields, deployment_predicate, parse_deployment


@dataclass(frozen=True)
class Deployment:
    """One verified deployment record."""

    fields: DeploymentFields
    signer: str
    record: str  # the referrer manifest holding the bundle
    bundle: str  # the bundle's digest (evidence digest)
    version: str | None = None  # the version tag it was found under

    def to_dict(self) -> dict[str, object]:
        return {**self.fields.to_dict(), "signer": self.signer, "record": self.record, "bundle": self.bundle,
                "version": self.version}


@dataclass(frozen=True)
class Placement:
    """Where a digest stands when it is deployed: the stage (and its history entry) it is deployed from,
    and a warning when it is not in the stage its environment is bound to."""

    stage: str | None
    entry: str | None
    warning: str | None = None


def _binding(gate: Gate, environment: str):  # -> EnvironmentRules | None
    policy = getattr(gate, "policy", None)
    return policy.environments.get(environment) if policy is not None else None


def _stage_holds(target: Target, gate: Gate, stage: str, digest: str) -> tuple[bool, str | None, str]:
    """(holds, head entry digest, what the stage holds, in words) by the stage's history."""
    promoters = gate.promoters(stage)
    try:
        state = read_stage(target, stage, promoters if promoters is not None else UnverifiedRecords())  # type: ignore[arg-type]
    except ModelcrateError as exc:
        return False, None, f"its history does not verify ({exc})"
    if state.untracked:
        return False, None, state.untracked
    head = state.history.head
    held = state.history.current
    return held == digest, head.digest if head else None, (f"it holds {held[:19]}…" if held else "it is empty")


def placement(target: Target, subject: Descriptor, gate: Gate, environment: str, stages: Iterable[str]) -> Placement:
    """The stage ``subject`` is deployed from: the environment's bound stage when the policy binds one
    (with a warning when the stage does not hold it), else the first stage whose history names it."""
    binding = _binding(gate, environment)
    if binding is not None:
        holds, entry, words = _stage_holds(target, gate, binding.stage, subject.digest)
        if holds:
            return Placement(binding.stage, entry)
        return Placement(None, None, f"{subject.digest[:19]}… is not in {binding.stage}, which {environment} "
                                     f"serves from: {words}")
    for stage in stages:
        holds, entry, _ = _stage_holds(target, gate, stage, subject.digest)
        if holds:
            return Placement(stage, entry)
    return Placement(None, None)


def deployment_readers(gate: Gate, trusted: Verifier | None) -> Verifier | None:
    """``trusted`` and every deployer the policy's environments name: whose deployment records to open."""
    policy = getattr(gate, "policy", None)
    extra = [s.verifier for env in (policy.environments.values() if policy is not None else ()) for s in env.deployers]
    if not extra:
        return trusted
    return AnyOf(tuple(([trusted] if trusted is not None else []) + extra))


def accepted(gate: Gate, environment: str, signer: str) -> bool:
    """Whether the policy lets ``signer`` record deployments into ``environment``."""
    binding = _binding(gate, environment)
    return binding is None or not binding.deployers or any(s.matches(signer) for s in binding.deployers)


def check_deployer(gate: Gate, environment: str, signer: Signer) -> None:
    binding = _binding(gate, environment)
    if binding is not None and binding.deployers and not any(s.matches(signer.description)
                                                             for s in binding.deployers):
        raise PolicyViolation(f"{signer.description} may not record deployments into {environment} "
                              f"(allowed: {', '.join(s.identity or '?' for s in binding.deployers)})")


def record(target: Target, subject: Descriptor, name: str, signer: Signer, *, environment: str, event: str,
           placed: Placement, created: datetime, endpoint: str | None = None,
           replicas: int | None = None) -> tuple[Stored, DeploymentFields]:
    """Sign and attach one deployment event of ``subject``."""
    predicate = deployment_predicate(environment=environment, event=event, digest=subject.digest,
                                     actor=signer.description, time=created.replace(microsecond=0),
                                     endpoint=endpoint, replicas=replicas, stage=placed.stage,
                                     history_entry=placed.entry)
    stored = attach_record(target, subject, name, signer, DEPLOYMENT_V1, predicate, created=created)
    return stored, parse_deployment(predicate)


def deployments_of(target: Target, subject: Descriptor, name: str, verifier: Verifier,
                   version: str | None = None) -> list[Deployment]:
    """Every verified, well-formed deployment record of ``subject`` whose predicate names its digest."""
    return [Deployment(fields, r.signer, r.descriptor.digest, r.bundle_digest, version)
            for r, fields in parsed_records(target, subject, name, verifier, predicate_type=DEPLOYMENT_V1,
                                            parse=parse_deployment) if fields.digest == subject.digest]


def ordered(found: Iterable[Deployment]) -> list[Deployment]:
    return sorted(found, key=lambda d: (d.fields.time, d.record))


def running(found: Iterable[Deployment], at: datetime | None = None) -> dict[str, Deployment]:
    """What runs in each environment (now, or at ``at``): the replay of every event up to then."""
    now: dict[str, Deployment | None] = {}
    for d in ordered(found):
        f = d.fields
        if at is not None and f.time > at:
            break
        held = now.get(f.environment)
        if f.event == "record":
            now[f.environment] = d
        elif held is not None and held.fields.digest == f.digest:
            now[f.environment] = None
    return {env: d for env, d in sorted(now.items()) if d is not None}


def where_running(current: Mapping[str, Deployment], digest: str) -> list[str]:
    """The environments running ``digest``."""
    return [env for env, d in current.items() if d.fields.digest == digest]


MAX_SHOWN = 20  # the newest records one model shows (`inspect`); `deployments REPO` shows every one


@dataclass(frozen=True)
class ModelDeployments:
    """The deployment records of one model, as ``inspect`` shows them: the verified ones, newest last and
    at most ``MAX_SHOWN`` (``omitted`` counts the older rest); without anyone to trust, none, and
    ``claimed`` says how many the referrer listing names (a claim: anyone with write access can list one)."""

    verified: bool
    records: tuple[Deployment, ...]
    claimed: int
    omitted: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"verified": self.verified, "claimed": self.claimed, "omitted": self.omitted,
                "records": [d.to_dict() for d in self.records]}


def of_model(target: Target, subject: Descriptor, name: str, gate: Gate, verifier: Verifier | None,
             limit: int = MAX_SHOWN) -> ModelDeployments:
    """The deployment records of ``subject``, verified with ``verifier`` or the signers ``gate``'s policy
    names (a policy also decides who may deploy into each environment, as ``deployments`` applies it).
    Reads the referrer listing and at most the collection budget's records (signatures/records.py)."""
    claimed = sum(1 for c in candidates(target, subject)[0]
                  if not c.legacy and c.descriptor.annotation(ANN_PREDICATE_TYPE) == DEPLOYMENT_V1)
    trusted = verifier or deployment_readers(gate, trusted_signers(gate))
    if trusted is None:
        return ModelDeployments(False, (), claimed)
    found = ordered(d for d in deployments_of(target, subject, name, trusted)
                    if verifier is not None or accepted(gate, d.fields.environment, d.signer))
    shown = found[-limit:] if limit > 0 else []
    return ModelDeployments(True, tuple(shown), claimed, len(found) - len(shown))
