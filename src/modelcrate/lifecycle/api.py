"""The lifecycle by reference strings: promote, rollback, demote, deprecate, retire, history, status.

A reference with a registry host is that registry's repository; one without is the local store. Each
function opens the Target, calls the operations of this package and returns plain values; none prints.
``gate`` is the policy (:class:`~modelcrate.lifecycle.policy_gate.PolicyGate`, or None for no policy);
``verifier`` is a reader's own list of accepted promoters (keys) when there is no policy. Verified
history heads are remembered in the store's state directory (:mod:`.checkpoint`).

>>> from modelcrate import lifecycle                                                  # doctest: +SKIP
>>> lifecycle.promote("localhost:5000/team/bert:1.1", to="production", signer=signer,
...                   gate=PolicyGate.load("policy.yaml"))                            # doctest: +SKIP
>>> modelcrate.resolve("localhost:5000/team/bert:production", gate=gate).reference    # doctest: +SKIP
'localhost:5000/team/bert@sha256:…'

A stage is resolved by :func:`modelcrate.resolve` (its checks are :func:`resolve_in`, on an open Target).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..config import Config
from ..content.remote.registry import RemoteSettings
from ..content.tagupdate import current
from ..content.target import TagLister, Target
from ..errors import InvalidReference, ModelcrateError, NotFound, PolicyViolation, UsageError
from ..format.descriptor import Descriptor
from ..format.reference import Reference
from ..results import Resolved
from ..signatures import Signer, Stored, Verifier, read_subject
from ..targets import open_target
from ..targets import resolve as resolve_checked
from . import chain as _chain
from .chain import Entry, History
from .checkpoint import Checkpoints
from .deprecation import Deprecated, deprecate as _deprecate, deprecated_state
from .gate import Decision, Gate, NoPolicy, StageContext, trusted_signers
from .reader import StageState, UnverifiedRecords, read_history
from .writer import Appended, Planner, append, plan_demote, plan_promote, plan_retire, plan_rollback
from .stages import is_lifecycle_tag, stage_of_head, validate_stage

STATE_DIR = "state"


@dataclass(frozen=True)
class Context:
    """Where an operation runs: the configuration, registry settings, and the clock (fixed in tests)."""

    config: Config | None = None
    remote: RemoteSettings | None = None
    now: datetime | None = None

    def resolved(self) -> Config:
        return self.config or Config.from_env()

    def time(self) -> datetime:
        return self.now or datetime.now(UTC)

    def checkpoints(self) -> Checkpoints:
        return Checkpoints(Path(self.resolved().home) / STATE_DIR)


DEFAULT_CONTEXT = Context()


@contextmanager
def opened(r: Reference, ctx: Context, *, push: bool) -> Iterator[Target]:
    with open_target(r, ctx.resolved(), write=push, remote=ctx.remote) as target:
        yield target


def repository_ref(repo: str) -> Reference:
    r = Reference.parse(repo)
    if r.tag or r.digest:
        raise InvalidReference(f"{repo}: name a repository, without a tag or digest")
    return r


def _reader(gate: Gate, stage: str, verifier: Verifier | None) -> Verifier:
    """Who must have signed a stage's records: the caller's keys, else the policy's promoters; with a policy
    that names none for the stage anyone may promote, so only the links are checked."""
    if verifier is not None:
        return verifier
    promoters = gate.promoters(stage)
    if promoters is not None:
        return promoters
    if isinstance(gate, NoPolicy):
        raise UsageError(f"verifying the {stage} history needs the promoters' keys or a policy naming them")
    return UnverifiedRecords()  # type: ignore[return-value]


def _verified_stage(target: Target, name: str, stage: str, reader: Verifier, ctx: Context) -> StageState:
    """Read and verify a stage; refuse a history that does not extend this client's checkpoint."""
    checkpoints = ctx.checkpoints()
    history = read_history(target, stage, reader)
    _chain.check_extends(history, checkpoints.get(name, stage))
    seen = _chain.after(history)
    if seen is not None:
        checkpoints.remember(name, stage, seen)
    return StageState(history, current(target, stage))


def stages_of(target: Target, gate: Gate) -> list[str]:
    """The policy's stages, then any other stage that has a history in this repository."""
    names = list(gate.stages())
    if isinstance(target, TagLister):
        try:
            tags = target.tags()
        except NotFound:
            tags = []
        names += [s for s in map(stage_of_head, tags) if s and s not in names and _is_stage_name(s)]
    return names


def _is_stage_name(name: str) -> bool:
    try:
        validate_stage(name)
    except UsageError:
        return False  # a junk `_history.…` tag: not a stage, and not a reason to fail
    return True


def _holding(target: Target, name: str, subject: Descriptor, gate: Gate, ctx: Context) -> frozenset[str]:
    """The stages whose verified history names ``subject`` now (a stage that does not verify holds nothing)."""
    held = set()
    for stage in gate.stages():
        try:
            state = _verified_stage(target, name, stage, _reader(gate, stage, None), ctx)
        except (ModelcrateError, UsageError):
            continue
        if state.history.current == subject.digest and state.untracked is None:
            held.add(stage)
    return frozenset(held)


# --- promote, rollback, demote ---------------------------------------------------------------------


@dataclass(frozen=True)
class Promoted:
    """A promotion (or rollback, demote) that landed: the record, the decision that allowed it."""

    reference: str
    appended: Appended
    decision: Decision = field(default_factory=Decision)

    def to_dict(self) -> dict[str, object]:
        return {"reference": self.reference, **self.appended.to_dict(),
                "rules": [r.to_dict() for r in self.decision.rules]}


def _refused(what: str, decision: Decision) -> PolicyViolation:
    return PolicyViolation(f"{what} refused: " + "; ".join(decision.failures()),
                           hint="meet the failed rules (see `modelcrate policy check`), then promote again")


def promote(ref: str, *, to: str, signer: Signer, reason: str = "", gate: Gate | None = None,
            ctx: Context = DEFAULT_CONTEXT) -> Promoted:
    """Evaluate the policy for stage ``to``; if it holds, append a signed promotion record and move the tag."""
    gate = gate or NoPolicy()
    stage = validate_stage(to)
    if not isinstance(gate, NoPolicy) and stage not in gate.stages():
        raise UsageError(f"{stage} is not a stage of the policy (its stages: {', '.join(gate.stages())})")
    r = Reference.parse(ref).or_latest()
    with opened(r, ctx, push=True) as target:
        subject = resolve_checked(target, r)
        if read_subject(target, subject) is None:  # e.g. an empty-stage marker or a history entry
            raise UsageError(f"{ref} is not a model manifest; only models are promoted")
        context = StageContext(_holding(target, r.name, subject, gate, ctx), signer.description)
        decision = gate.decide(target, subject, r.name, stage, context)
        if not decision.allowed:
            raise _refused(f"promotion of {r.name}@{subject.digest} into {stage}", decision)
        appended = _append(target, r.name, stage, signer, gate, ctx,
                           plan_promote(subject, reason=reason, evidence=decision.evidence))
    return Promoted(f"{r.name}@{subject.digest}", appended, decision)


def _append(target: Target, name: str, stage: str, signer: Signer, gate: Gate, ctx: Context,
            planner: Planner) -> Appended:
    promoters = gate.promoters(stage)
    checkpoints = ctx.checkpoints()
    appended = append(target, name, stage, signer, planner,
                      reader=promoters if promoters is not None else UnverifiedRecords(),  # type: ignore[arg-type]
                      allowed=promoters, policy_digest=gate.policy_digest, created=ctx.time(),
                      seen=checkpoints.get(name, stage))
    if appended is not None:
        checkpoints.remember(name, stage, _chain.Checkpoint(appended.entry.digest, appended.promotion.sequence))
    return appended  # type: ignore[return-value]


def _move(repo: str, stage: str, signer: Signer, reason: str, gate: Gate | None, ctx: Context,
          planner: Callable[..., Planner]) -> Appended:
    r = repository_ref(repo)
    with opened(r, ctx, push=True) as target:
        return _append(target, r.name, validate_stage(stage), signer, gate or NoPolicy(), ctx,
                       planner(target, reason=reason))


def rollback(repo: str, *, stage: str, signer: Signer, reason: str = "", gate: Gate | None = None,
             ctx: Context = DEFAULT_CONTEXT) -> Promoted:
    """Move ``stage`` back to the model it held before its current one, recorded as a rollback."""
    appended = _move(repo, stage, signer, reason, gate, ctx, plan_rollback)
    return Promoted(f"{repository_ref(repo).name}@{appended.promotion.to_digest}", appended)


def demote(repo: str, *, stage: str, signer: Signer, reason: str = "", gate: Gate | None = None,
           ctx: Context = DEFAULT_CONTEXT) -> Promoted:
    """Empty ``stage`` (its tag then names the empty-stage marker), recorded as a demote."""
    return Promoted(f"{repository_ref(repo).name}:{stage}", _move(repo, stage, signer, reason, gate, ctx, plan_demote))


# --- deprecate, retire -----------------------------------------------------------------------------


def _successor(target: Target, r: Reference, successor: str | None) -> str | None:
    if successor is None:
        return None
    s = Reference.parse(successor).or_latest()
    if s.name != r.name:
        return str(s)  # another repository: recorded as given
    return f"{s.name}@{resolve_checked(target, s).digest}"


def deprecate(ref: str, *, reason: str, signer: Signer, successor: str | None = None,
              ctx: Context = DEFAULT_CONTEXT) -> Stored:
    """Sign a deprecation of the model at ``ref`` (``successor``: its replacement, pinned by digest)."""
    r = Reference.parse(ref).or_latest()
    with opened(r, ctx, push=True) as target:
        subject = resolve_checked(target, r)
        return _deprecate(target, subject, r.name, signer, reason=reason,
                          successor=_successor(target, r, successor), created=ctx.time())


@dataclass(frozen=True)
class Retired:
    reference: str
    stages: tuple[Appended, ...]
    record: Stored
    deleted: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"reference": self.reference, "stages": [a.to_dict() for a in self.stages],
                "record": self.record.descriptor.digest, "deleted": self.deleted, "notes": list(self.notes)}


def retire(ref: str, *, signer: Signer, reason: str = "retired", delete: bool = False, gate: Gate | None = None,
           ctx: Context = DEFAULT_CONTEXT) -> Retired:
    """Take the model out of every stage that has it in its history, sign its retirement, and with
    ``delete`` remove its version tag afterwards (where the Target can; the history keeps its digest)."""
    gate = gate or NoPolicy()
    r = Reference.parse(ref).or_latest()
    notes: list[str] = []
    with opened(r, ctx, push=True) as target:
        subject = resolve_checked(target, r)
        landed = []
        for stage in stages_of(target, gate):
            appended = _append(target, r.name, stage, signer, gate, ctx, plan_retire(target, subject, reason=reason))
            if appended is not None:
                landed.append(appended)
        record = _deprecate(target, subject, r.name, signer, reason=reason, created=ctx.time(), status="retired")
        deleted = False
        if delete:
            deleted = _delete_tag(target, r, subject, notes)
    return Retired(f"{r.name}@{subject.digest}", tuple(landed), record, deleted, tuple(notes))


def _delete_tag(target: Target, r: Reference, subject: Descriptor, notes: list[str]) -> bool:
    if not r.tag or r.digest or is_lifecycle_tag(r.tag) or r.tag in stages_of(target, NoPolicy()):
        notes.append("no version tag to delete (give REF as NAME:VERSION)")
        return False
    untag = getattr(target, "untag", None)
    if untag is None:
        notes.append(f"{target.name} offers no tag deletion; {r.tag} is kept (retired by its record)")
        return False
    if target.resolve(r.tag).digest == subject.digest:
        untag(r.tag)
        return True
    return False


# --- history, status, resolve ----------------------------------------------------------------------


@dataclass(frozen=True)
class StageReport:
    """One stage's verified history, what its tag names, and whether its signers were checked."""

    stage: str
    history: History
    tagged: str | None
    untracked: str | None
    signers_verified: bool
    problem: str | None = None  # set (by ``status`` only) when the history does not verify

    def at(self, when: datetime) -> Entry | None:
        return self.history.at(when)

    def to_dict(self) -> dict[str, object]:
        return {"stage": self.stage, "current": self.history.current, "tagged": self.tagged,
                "untracked": self.untracked, "signersVerified": self.signers_verified, "problem": self.problem,
                "entries": [e.to_dict() for e in self.history.entries]}


def stage_report(target: Target, name: str, stage: str, gate: Gate, verifier: Verifier | None, ctx: Context) -> StageReport:
    reader = _reader(gate, stage, verifier)
    state = _verified_stage(target, name, stage, reader, ctx)
    return StageReport(stage, state.history, state.tagged.digest if state.tagged else None, state.untracked,
                       not isinstance(reader, UnverifiedRecords))


def history(repo: str, *, stage: str | None = None, gate: Gate | None = None, verifier: Verifier | None = None,
            ctx: Context = DEFAULT_CONTEXT) -> list[StageReport]:
    """The verified history of ``stage`` (or of every stage with one). Fails closed on a broken chain or a
    rewrite; an untracked move of the stage tag is reported in the result."""
    gate = gate or NoPolicy()
    r = repository_ref(repo)
    with opened(r, ctx, push=False) as target:
        stages = [validate_stage(stage)] if stage else stages_of(target, gate)
        reports = [stage_report(target, r.name, s, gate, verifier, ctx) for s in stages]
    return [rep for rep in reports if rep.history.entries or rep.tagged or stage]


def _is_stage(tag: str | None, target: Target, gate: Gate) -> bool:
    return tag is not None and not is_lifecycle_tag(tag) and tag in stages_of(target, gate)


def resolve_in(target: Target, r: Reference, *, gate: Gate | None, verifier: Verifier | None,
               ctx: Context) -> Resolved:
    """Resolve a version or stage reference in ``target`` (``modelcrate.resolve`` opens it). For a stage,
    with a policy or keys: its history must verify, extend the checkpoint and match the tag, and the policy
    must hold for the model now; otherwise :class:`PolicyViolation` (or a subclass) names what failed."""
    policy = gate
    gate = gate or NoPolicy()
    warnings: list[str] = []
    entry = decision = None
    stage = r.tag if not r.digest and _is_stage(r.tag, target, gate) else None
    if stage is not None and (policy is not None or verifier is not None):
        reader = _reader(gate, stage, verifier)
        if isinstance(reader, UnverifiedRecords):  # anyone may move it: nothing proves who did
            raise PolicyViolation(f"the policy names no promoters for {stage}, so its history cannot show "
                                  f"who moved {r.name}:{stage}",
                                  hint="add promoters for the stage to the policy, or pass their keys")
        state = _verified_stage(target, r.name, stage, reader, ctx)
        if state.untracked:
            raise _chain.UntrackedMove(state.untracked)
        entry = state.history.head
        if state.history.current is None:
            raise PolicyViolation(f"stage {stage} of {r.name} is empty"
                                  + (f" ({entry.promotion.action} #{entry.sequence})" if entry else ""))
        desc = target.resolve(state.history.current)
    else:
        desc = resolve_checked(target, r)
        if stage is not None:
            warnings.append(f"the {stage} history was not verified: give a policy or the promoters' keys")
    if policy is not None and stage is not None:
        # The predecessor rule held when the promotion was made (its signed record proves that); what
        # is re-checked is the model itself: signatures, evidence, approvals, deprecation.
        decision = policy.decide(target, desc, r.name, stage, StageContext(frozenset(gate.stages()), ""))
        if decision.refused:
            raise _refused(f"{r.name}:{stage} ({desc.digest})",
                           Decision(tuple(o for o in decision.rules if o.passed is False), decision.evidence))
    deprecation = _deprecation(target, desc, r.name, gate, verifier)
    if deprecation is not None:
        warnings.append(deprecation.warning(f"{r.name}@{desc.digest}"))
    return Resolved(f"{r.name}@{desc.digest}", r.name, desc, stage, entry, decision, deprecation, tuple(warnings))


def _deprecation(target: Target, desc: Descriptor, name: str, gate: Gate, verifier: Verifier | None
                 ) -> Deprecated | None:
    everyone = trusted_signers(gate, verifier)
    return deprecated_state(target, desc, name, everyone) if everyone is not None else None


def deprecated(ref: str, *, gate: Gate | None = None, verifier: Verifier | None = None,
                ctx: Context = DEFAULT_CONTEXT) -> Deprecated | None:
    """The verified deprecation (or retirement) of the model at ``ref``, by ``verifier`` or anyone the policy
    names; None when there is none or nobody to verify it with (``pull`` warns with this)."""
    gate = gate or NoPolicy()
    r = Reference.parse(ref).or_latest()
    with opened(r, ctx, push=False) as target:
        return _deprecation(target, resolve_checked(target, r), r.name, gate, verifier)
