"""Verifying a stage's history chain, over entries already fetched and signature-checked (spec/lifecycle.md).

Pure. :func:`verify_chain` takes the entries oldest first, each with its verified promotion record, and
checks what the signatures alone cannot: that every record names its predecessor's digest and the next
sequence number, that the index's unsigned hints agree with the signed record, that times never go
backwards, and that each record's from/to follow from replaying the ones before it (so a rollback cannot
name an arbitrary model). On top: :func:`check_stage_tag` (untracked moves) and :func:`check_extends`
(the client's checkpoint). Every failure is a :class:`HistoryError` naming the entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..errors import PolicyViolation
from .records import EntryNode, Promotion

MAX_ENTRIES = 10_000  # a chain longer than this is refused: reading it must stay bounded


class HistoryError(PolicyViolation):
    """A stage history does not verify: a record is missing, altered, reordered or unsigned."""

    hint = "the history was tampered with or written by another tool; do not serve from this stage"


class UntrackedMove(HistoryError):
    """The stage tag names something other than what the history's last record says."""

    hint = "someone retagged the stage without a promotion record; promote or roll back to restore it"


class HistoryRewritten(HistoryError):
    """The history does not extend the head this client verified before."""

    hint = "the history was rewritten or forked since it was last verified; investigate before trusting it"


@dataclass(frozen=True)
class Entry:
    """One verified history entry."""

    digest: str  # the entry index's digest: what the next record names as ``previous``
    record_digest: str  # the record manifest (a referrer of the model)
    bundle_digest: str
    subject: str  # the model the signed statement is about
    signer: str  # the identity the verifier matched
    promotion: Promotion
    node: EntryNode = field(repr=False, compare=False)

    @property
    def sequence(self) -> int:
        return self.promotion.sequence

    def to_dict(self) -> dict[str, object]:
        p = self.promotion
        return {"sequence": p.sequence, "digest": self.digest, "record": self.record_digest,
                "bundle": self.bundle_digest, "stage": p.stage, "action": p.action, "model": self.subject,
                "from": p.from_digest, "to": p.to_digest, "actor": p.actor, "signer": self.signer,
                "reason": p.reason, "evidence": [e.to_dict() for e in p.evidence], "policy": p.policy,
                "time": p.time, "previous": p.previous}


@dataclass(frozen=True)
class History:
    """A verified chain, oldest first, and the stage's state after replaying it."""

    stage: str
    entries: tuple[Entry, ...]
    current: str | None  # what the stage names after the last record (None: empty)
    stack: tuple[str, ...]  # what a rollback would return to, most recent last

    @property
    def head(self) -> Entry | None:
        return self.entries[-1] if self.entries else None

    def at(self, when: datetime) -> Entry | None:
        """The entry in effect at ``when`` (the last one recorded at or before it), or None."""
        chosen = None
        for entry in self.entries:
            if _parse_time(entry.promotion.time) > when:
                break
            chosen = entry
        return chosen

    def rollback_target(self) -> str | None:
        """The model a rollback would put back, or None when there is nothing to roll back to."""
        stack = list(self.stack)
        if self.current is not None and stack:
            stack.pop()
        return stack[-1] if stack else None


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def empty(stage: str) -> History:
    return History(stage, (), None, ())


def _fail(entry: Entry, message: str) -> HistoryError:
    return HistoryError(f"{entry.promotion.stage} history entry #{entry.node.sequence} "
                        f"({entry.digest[:19]}…): {message}")


def _check_links(stage: str, entries: list[Entry]) -> None:
    for i, entry in enumerate(entries):
        p, node = entry.promotion, entry.node
        previous = entries[i - 1] if i else None
        if node.sequence != i + 1 or p.sequence != i + 1:
            raise _fail(entry, f"sequence {p.sequence} where {i + 1} was expected (an entry is missing or "
                               "out of order)")
        if p.stage != stage or node.stage != stage:
            raise _fail(entry, f"the record is for stage {p.stage!r}, not {stage!r}")
        want_previous = previous.digest if previous else None
        if p.previous != want_previous:
            raise _fail(entry, f"the signed record names previous entry {p.previous}, but the chain holds "
                               f"{want_previous} (an entry was deleted, replaced or reordered)")
        if node.subject is not None and node.subject.digest != entry.subject:
            raise _fail(entry, "the entry's subject is not the model its record is about")
        if previous is not None and _parse_time(p.time) < _parse_time(previous.promotion.time):
            raise _fail(entry, f"recorded at {p.time}, before the entry it follows ({previous.promotion.time})")


def _replay(entries: list[Entry]) -> tuple[str | None, list[str]]:
    """Replay the records (spec/lifecycle.md "Replaying a chain"); each record's from/to must match."""
    current: str | None = None
    stack: list[str] = []
    for entry in entries:
        p = entry.promotion
        if p.from_digest != current:
            raise _fail(entry, f"the record says the stage held {p.from_digest}, but the history before it "
                               f"leaves it at {current}")
        if p.action == "promote":
            expected: str | None = p.to_digest
            if entry.subject != p.to_digest:
                raise _fail(entry, "a promotion's statement must be about the model it promotes")
            stack.append(entry.subject)
        elif p.action == "rollback":
            if current is not None:
                stack.pop()
            expected = stack[-1] if stack else None
            if expected is None:
                raise _fail(entry, "a rollback with nothing to roll back to")
            if entry.subject != p.to_digest:
                raise _fail(entry, "a rollback's statement must be about the model it restores")
        elif p.action == "demote":
            if current is None or entry.subject != current:
                raise _fail(entry, "a demote must name the model the stage holds")
            expected = None  # it stays on the stack: a rollback puts it back
        else:  # retire: the model leaves the stage and can never be rolled back to
            stack = [d for d in stack if d != entry.subject]
            expected = None if current == entry.subject else current
        if p.to_digest != expected:
            raise _fail(entry, f"the record moves the stage to {p.to_digest}, but replaying the history gives "
                               f"{expected}")
        current = expected
    return current, stack


def verify_chain(stage: str, entries: list[Entry]) -> History:
    """Check the links and replay the records of a chain given oldest first; raise :class:`HistoryError`."""
    if len(entries) > MAX_ENTRIES:
        raise HistoryError(f"the {stage} history has more than {MAX_ENTRIES} entries; refusing to read it")
    _check_links(stage, entries)
    current, stack = _replay(entries)
    return History(stage, tuple(entries), current, tuple(stack))


def check_stage_tag(history: History, tagged: str | None, empty_marker: str) -> None:
    """Raise :class:`UntrackedMove` unless the stage tag (its digest, or None when absent) is where the
    history's last record puts it. An empty stage is an absent tag or the empty-stage marker."""
    stage = history.stage
    if history.current is None:
        if tagged is not None and tagged != empty_marker:
            what = "has no history" if not history.entries else "is empty by its history"
            raise UntrackedMove(f"untracked move: stage {stage} names {tagged} but {what}")
        return
    if tagged != history.current:
        raise UntrackedMove(f"untracked move: stage {stage} names {tagged or 'nothing'}, but its last record "
                            f"(#{history.entries[-1].sequence}) puts it at {history.current}")


@dataclass(frozen=True)
class Checkpoint:
    """The last head a client verified for one stage."""

    digest: str
    sequence: int


def check_extends(history: History, seen: Checkpoint | None) -> None:
    """Raise :class:`HistoryRewritten` unless ``history`` extends the head this client verified before."""
    if seen is None:
        return
    stage = history.stage
    if len(history.entries) < seen.sequence:
        raise HistoryRewritten(f"the {stage} history has {len(history.entries)} entries, but this client "
                               f"verified #{seen.sequence} ({seen.digest[:19]}…) before: it was cut back")
    found = history.entries[seen.sequence - 1]
    if found.digest != seen.digest:
        raise HistoryRewritten(f"the {stage} history was rewritten: entry #{seen.sequence} is "
                               f"{found.digest[:19]}…, but this client verified {seen.digest[:19]}… before")


def after(history: History) -> Checkpoint | None:
    """The checkpoint to remember once ``history`` has verified."""
    head = history.head
    return Checkpoint(head.digest, head.sequence) if head else None
