"""The audit event stream: every governance event of a repository, from the verified records themselves.

Events: ``pushed`` (a version tag naming a model), ``signed``, ``attested``, ``approved``, ``rejected``,
``attached``, ``deployed``, ``deployment-ended``, ``deprecated``, ``retired`` (records about one model);
``promoted``, ``rolled-back``, ``demoted``, ``stage-retired`` (a stage's verified history); and
``untracked-move`` / ``history-invalid`` when a stage tag or history does not verify (dated when detected).
A record counts only when it verifies under the reader's signers; nothing here is read from a server.

Every event has a stable ``id`` (the record it comes from, and its kind), so a follower emits each once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..content.referrers import list_referrers
from ..content.target import Target
from ..errors import ModelcrateError, UsageError
from ..lifecycle.api import Context, stage_report, stages_of
from ..lifecycle.gate import Gate
from ..lifecycle.records import DEPRECATION_V1, PROMOTION_V1, parse_deprecation
from ..signatures import ANN_PREDICATE_TYPE, OMS_PREDICATE_TYPE, SIGNATURE_TYPE, Record, Verifier, collect_records
from ..signing.approval import APPROVAL_V1, parse_approval
from ..signing.attachment import ATTACHMENT_V1, parse_attachment
from ..signing.deployment import DEPLOYMENT_V1, parse_deployment
from .versions import Version

MAX_TYPES = 32  # distinct predicate types read per model: a flood of invented types costs nothing more
_ACTIONS = {"promote": "promoted", "rollback": "rolled-back", "demote": "demoted", "retire": "stage-retired"}


@dataclass(frozen=True)
class Event:
    """One governance event. ``time`` is the signed record's own time where it has one."""

    time: str
    kind: str
    repository: str
    digest: str | None
    id: str
    version: str | None = None
    signer: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "event": self.kind, "repository": self.repository, "digest": self.digest,
                "version": self.version, "signer": self.signer, "id": self.id, "details": self.details}


def _time(record: Record, predicate_time: Any = None) -> str:
    return predicate_time if isinstance(predicate_time, str) else (record.created or "")


def _from_record(name: str, v: Version, record: Record) -> Event | None:
    """The event a verified record stands for (None when its predicate is malformed)."""
    p, ptype = record.predicate, record.predicate_type
    base = {"repository": name, "digest": v.descriptor.digest, "version": v.tag, "signer": record.signer}
    rid = record.descriptor.digest
    try:
        if ptype in (SIGNATURE_TYPE, OMS_PREDICATE_TYPE):
            return Event(_time(record), "signed", id=f"{rid}/signed", details={"predicateType": ptype}, **base)
        if ptype == APPROVAL_V1:
            f = parse_approval(p)
            return Event(_time(record, p.get("time")), "approved" if f.decision == "approve" else "rejected",
                         id=f"{rid}/{f.decision}", details={"stage": f.stage, "comment": f.comment}, **base)
        if ptype == DEPLOYMENT_V1:
            d = parse_deployment(p)
            kind = "deployed" if d.event == "record" else "deployment-ended"
            return Event(p["time"], kind, id=f"{rid}/{kind}", details=d.to_dict(), **base)
        if ptype == ATTACHMENT_V1:
            a = parse_attachment(p)
            return Event(p["time"], "attached", id=f"{rid}/attached", details=a.to_dict(), **base)
        if ptype == DEPRECATION_V1:
            f = parse_deprecation(p)
            return Event(f.time, f.status, id=f"{rid}/{f.status}", details=f.to_predicate(), **base)
    except (ModelcrateError, KeyError):
        return None
    return Event(_time(record, p.get("created")), "attested", id=f"{rid}/attested",
                 details={"predicateType": ptype, **({"phase": p["phase"]} if isinstance(p.get("phase"), str) else {})},
                 **base)


def model_events(target: Target, name: str, v: Version, verifier: Verifier) -> tuple[list[Event], list[str]]:
    """The events of one version: its push and every verified record about it."""
    created = v.metadata.get("created") if isinstance(v.metadata.get("created"), str) else ""
    out = [Event(created, "pushed", name, v.descriptor.digest, f"{v.descriptor.digest}/pushed/{v.tag}", v.tag,
                 details={"created": created or None, "claimed": True})]
    notes: list[str] = []
    # Promotion records are referrers of the model too, but a stage's verified history is what they mean.
    types = sorted({r.annotations.get(ANN_PREDICATE_TYPE) for r in list_referrers(target, v.descriptor)}
                   - {None, PROMOTION_V1})
    if len(types) > MAX_TYPES:
        notes.append(f"{name}:{v.tag}: {len(types)} record types listed, only {MAX_TYPES} read")
    for ptype in types[:MAX_TYPES]:
        found = collect_records(target, v.descriptor, name, verifier, predicate_type=ptype)  # type: ignore[arg-type]
        out += [e for e in (_from_record(name, v, r) for r in found.records) if e is not None]
    return out, notes


def stage_events(target: Target, name: str, gate: Gate, verifier: Verifier | None, ctx: Context,
                 detected: str) -> list[Event]:
    """The events of every stage's verified history, and the stages that do not verify."""
    out = []
    for stage in stages_of(target, gate):
        try:
            report = stage_report(target, name, stage, gate, verifier, ctx)
        except UsageError:
            continue  # nobody to verify its signers with: nothing about it is reported as fact
        except ModelcrateError as exc:
            out.append(Event(detected, "history-invalid", name, None, f"{stage}/invalid/{detected}",
                             details={"stage": stage, "problem": str(exc)}))
            continue
        for e in report.history.entries:
            p = e.promotion
            out.append(Event(p.time, _ACTIONS.get(p.action, p.action), name, p.to_digest or p.from_digest,
                             f"{e.digest}/{p.action}", signer=e.signer,
                             details={"stage": stage, "sequence": p.sequence, "from": p.from_digest, "to": p.to_digest,
                                      "reason": p.reason, "entry": e.digest,
                                      "evidence": [x.to_dict() for x in p.evidence]}))
        if report.untracked:
            out.append(Event(detected, "untracked-move", name, report.tagged,
                             f"{stage}/untracked/{report.tagged}", details={"stage": stage,
                                                                             "problem": report.untracked}))
    return out


def ordered(events: Iterable[Event], since: datetime | None = None) -> list[Event]:
    """Events in time order (ties by id), those before ``since`` left out."""
    keep = [e for e in events if since is None or (e.time and datetime.fromisoformat(e.time) >= since)]
    return sorted(keep, key=lambda e: (e.time, e.id))


def follow(poll: Callable[[], list[Event]], sleep: Callable[[float], None], *, polls: int | None = None,
           interval: float = 2.0, longest: float = 60.0) -> Iterator[Event]:
    """Every event once: the first poll's events, then each poll's new ones. Polls back off (doubling up to
    ``longest``) while nothing happens and start again at ``interval`` after news; ``polls`` bounds them."""
    seen: set[str] = set()
    wait, done = interval, 0
    while polls is None or done < polls:
        fresh = [e for e in poll() if e.id not in seen]
        done += 1
        for e in fresh:
            seen.add(e.id)
            yield e
        if polls is not None and done >= polls:
            return
        wait = interval if fresh else min(wait * 2, longest)
        sleep(wait)
