"""Writing a stage's history: promote, rollback, demote and retire over a Target.

Every change is one :func:`append`: read the chain from the head tag, plan the record on top of it, sign
it, push the record (a referrer of the model) and a new history entry, and move the head tag with
:func:`~modelcrate.content.tagupdate.update_tag`. A concurrent writer that moved the head first makes us
re-read, re-plan on its entry and re-sign, so both records stay in the chain. Only then is the stage tag
moved, to wherever the chain's newest record says (:func:`sync_stage`): a pointer to the existing
manifest, never a copy.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..content import referrers as _referrers
from ..content.tagupdate import LostRace, current, update_tag
from ..content.target import Target
from ..errors import NotFound, PolicyViolation, SignatureError, UsageError
from ..format import digest as _digest
from ..format.descriptor import Descriptor
from ..format.mediatypes import ANN_CREATED, EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from ..signatures import ANN_BUNDLE_CONTENT, ANN_PREDICATE_TYPE, BUNDLE_MEDIA_TYPE, Signer, Verifier
from ..signing import statement as _statement
from ..signing.predicates import timestamp
from . import chain as _chain
from .chain import Checkpoint, History
from .reader import head_of, read_entry, read_history
from .records import PROMOTION_V1, Evidence, Promotion, build_entry, empty_stage, promotion
from .stages import head_tag, validate_stage

SYNC_ROUNDS = 6


@dataclass(frozen=True)
class Plan:
    """What one record does: ``action`` about ``subject``, leaving the stage at ``to`` (None: empty)."""

    action: str
    subject: Descriptor
    to: Descriptor | None
    reason: str = ""
    evidence: tuple[Evidence, ...] = ()


Planner = Callable[[History], Plan | None]


@dataclass(frozen=True)
class Appended:
    """A record that landed in the chain, and where the stage tag points now."""

    stage: str
    entry: Descriptor
    record: Descriptor
    promotion: Promotion
    stage_tag: Descriptor | None
    attempts: int

    def to_dict(self) -> dict[str, object]:
        return {"stage": self.stage, "entry": self.entry.digest, "record": self.record.digest,
                "attempts": self.attempts, **{k: v for k, v in self.promotion.to_predicate().items()
                                              if k in ("action", "from", "to", "sequence", "time", "actor")}}


@dataclass
class _Writer:
    """State of one append across the retries of update_tag."""

    target: Target
    name: str
    stage: str
    signer: Signer
    planner: Planner
    reader: Verifier
    allowed: Verifier | None
    policy_digest: str | None
    created: datetime
    seen: Checkpoint | None
    built: dict[str, tuple[Descriptor, Descriptor, Promotion, Descriptor]] = field(default_factory=dict)
    landed: str | None = None
    skipped: bool = False

    def change(self, head: Descriptor | None) -> Descriptor | None:
        if head is not None and head.digest in self.built:
            self.landed = head.digest
            return None
        history = read_history(self.target, self.stage, self.reader, head=head)
        mine = [e.digest for e in history.entries if e.digest in self.built]
        if mine:  # a concurrent writer already built on our entry
            self.landed = mine[-1]
            return None
        _chain.check_extends(history, self.seen)
        plan = self.planner(history)
        if plan is None:
            self.skipped = True
            return None
        return self._build(history, head, plan)

    def _build(self, history: History, head: Descriptor | None, plan: Plan) -> Descriptor:
        last = history.head
        when = timestamp(self.created.replace(microsecond=0))
        if last is not None and datetime.fromisoformat(last.promotion.time) > self.created:
            when = last.promotion.time  # a record is never older than the one it follows
        record = promotion(stage=self.stage, action=plan.action, from_digest=history.current,
                           to_digest=plan.to.digest if plan.to else None, actor=self.signer.description,
                           reason=plan.reason, evidence=plan.evidence, policy=self.policy_digest, time=when,
                           previous=head.digest if head else None, sequence=len(history.entries) + 1)
        statement = _statement.build_statement([(self.name, {"sha256": _digest.hex_of(plan.subject.digest)})],
                                               PROMOTION_V1, record.to_predicate())
        bundle = self.signer.sign_statement(statement)
        if self.allowed is not None:
            try:
                self.allowed.verify_bundle(bundle)
            except SignatureError:
                raise PolicyViolation(f"{self.signer.description} may not promote into {self.stage}",
                                      hint=f"the policy allows {self.allowed.description}") from None
        annotations = {ANN_BUNDLE_CONTENT: "dsse-envelope", ANN_PREDICATE_TYPE: PROMOTION_V1,
                       ANN_CREATED: when}
        raw, blob = _referrers.build_referrer(plan.subject, artifact_type=BUNDLE_MEDIA_TYPE, blob=bundle,
                                              blob_media_type=BUNDLE_MEDIA_TYPE, annotations=annotations,
                                              blob_title=f"{self.stage}-{record.sequence}.sigstore.json")
        _push(self.target, Descriptor.of(OCI_EMPTY, EMPTY_JSON), EMPTY_JSON)
        _push(self.target, blob, bundle)
        record_desc = Descriptor.of(OCI_MANIFEST, raw, artifact_type=BUNDLE_MEDIA_TYPE,
                                    annotations=annotations)
        _push(self.target, record_desc, raw)
        entry_raw = build_entry(record_desc, head, plan.subject.bare(), stage=self.stage,
                                sequence=record.sequence, created=when)
        entry = Descriptor.of(OCI_INDEX, entry_raw)
        _push(self.target, entry, entry_raw)
        self.built[entry.digest] = (entry, record_desc, record, plan.subject)
        return entry


def _push(target: Target, desc: Descriptor, data: bytes) -> None:
    target.push(desc.bare(), io.BytesIO(data))


def append(target: Target, name: str, stage: str, signer: Signer, planner: Planner, *, reader: Verifier,
           allowed: Verifier | None, policy_digest: str | None, created: datetime,
           seen: Checkpoint | None = None) -> Appended | None:
    """Append one record to ``stage``'s history and move the stage tag; None when the planner had nothing
    to do. ``reader`` verifies the chain as it stands; ``allowed`` (the stage's promoters, if the policy
    names them) must accept our own signature before anything is written."""
    validate_stage(stage)
    writer = _Writer(target, name, stage, signer, planner, reader, allowed, policy_digest, created, seen)
    result = update_tag(target, head_tag(stage), writer.change)
    if writer.skipped and writer.landed is None and not result.changed:
        return None
    landed = writer.landed or (result.descriptor.digest if result.descriptor else None)
    if landed not in writer.built:
        raise LostRace(f"the {stage} history moved while our record was written, and it is not in the chain",
                       hint="run the command again")
    entry, record_desc, record, subject = writer.built[landed]
    _referrers.register(target, subject, record_desc)  # found from the model too, by `status` and discovery
    return Appended(stage, entry, record_desc, record, sync_stage(target, stage, reader), result.attempts)


def _stage_value(target: Target, stage: str, to_digest: str | None) -> Descriptor:
    if to_digest is None:
        raw, desc = empty_stage(stage)
        _push(target, Descriptor.of(OCI_EMPTY, EMPTY_JSON), EMPTY_JSON)
        _push(target, desc, raw)
        return desc
    try:
        return target.resolve(to_digest)
    except NotFound:
        raise NotFound(f"the {stage} history names {to_digest}, which is not in {target.name}",
                       hint="the model was deleted; promote another version") from None


def sync_stage(target: Target, stage: str, reader: Verifier) -> Descriptor | None:
    """Point the stage tag where the newest record says, until a re-read shows the head did not move."""
    for _round in range(SYNC_ROUNDS):
        head = head_of(target, stage)
        if head is None:
            return current(target, stage)
        wanted = _stage_value(target, stage, read_entry(target, head, reader).promotion.to_digest)
        update_tag(target, stage, lambda now, w=wanted: None if now is not None and now.digest == w.digest else w)
        after = head_of(target, stage)
        if after is not None and after.digest == head.digest:
            return wanted
    raise LostRace(f"the {stage} history kept moving while its tag was updated", hint="run the command again")


# --- planners --------------------------------------------------------------------------------------


def plan_promote(subject: Descriptor, *, reason: str = "", evidence: tuple[Evidence, ...] = ()) -> Planner:
    def plan(history: History) -> Plan:
        if history.current == subject.digest:
            raise UsageError(f"{history.stage} already names {subject.digest}")
        return Plan("promote", subject, subject, reason, evidence)

    return plan


def plan_rollback(target: Target, *, reason: str = "") -> Planner:
    def plan(history: History) -> Plan:
        back = history.rollback_target()
        if back is None:
            raise UsageError(f"{history.stage} has no earlier model to roll back to")
        desc = _stage_value(target, history.stage, back)
        return Plan("rollback", desc, desc, reason)

    return plan


def plan_demote(target: Target, *, reason: str = "") -> Planner:
    def plan(history: History) -> Plan:
        if history.current is None:
            raise UsageError(f"{history.stage} is already empty")
        return Plan("demote", _stage_value(target, history.stage, history.current), None, reason)

    return plan


def plan_retire(target: Target, subject: Descriptor, *, reason: str = "") -> Planner:
    """Retire ``subject`` from a stage: empty it if it is there, and strike it from what rollback returns to.
    Nothing is written for a stage that never held it (None)."""

    def plan(history: History) -> Plan | None:
        if subject.digest not in history.stack and history.current != subject.digest:
            return None
        to = None if history.current in (None, subject.digest) else _stage_value(target, history.stage,
                                                                                 history.current)
        return Plan("retire", subject, to, reason)

    return plan
