"""Pure chain verification: links, sequence numbers, replay of promote/rollback/demote/retire, untracked
moves and checkpoints, over hand-built entries (no signatures involved: those are checked before)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from modelcrate.format.descriptor import Descriptor
from modelcrate.format.mediatypes import OCI_INDEX, OCI_MANIFEST
from modelcrate.lifecycle import chain
from modelcrate.lifecycle.chain import Checkpoint, Entry, HistoryError, HistoryRewritten, UntrackedMove
from modelcrate.lifecycle.records import EntryNode, promotion

A, B, C = ("sha256:" + c * 64 for c in "abc")
MARKER = "sha256:" + "e" * 64


def _d(n: int, what: str = "entry") -> str:
    return "sha256:" + f"{what}{n}".encode().hex().ljust(64, "0")[:64]


def build(steps: list[tuple[str, str, str | None]], stage: str = "production") -> list[Entry]:
    """Entries for (action, subject, to) steps, linked as a writer links them."""
    entries: list[Entry] = []
    current = None
    for i, (action, subject, to) in enumerate(steps, start=1):
        previous = entries[-1].digest if entries else None
        p = promotion(stage=stage, action=action, from_digest=current, to_digest=to, actor="key x",
                      time=dt.datetime(2026, 1, 1, 0, i, tzinfo=dt.UTC), previous=previous, sequence=i)
        node = EntryNode(Descriptor(OCI_MANIFEST, _d(i, "rec"), 10),
                         Descriptor(OCI_INDEX, previous, 10) if previous else None, stage, i,
                         Descriptor(OCI_MANIFEST, subject, 10))
        entries.append(Entry(_d(i), _d(i, "rec"), _d(i, "bun"), subject, "key x", p, node))
        current = to
    return entries


def test_promote_rollback_retire_replay() -> None:
    h = chain.verify_chain("production", build([("promote", A, A), ("promote", B, B), ("rollback", A, A)]))
    assert h.current == A and h.stack == (A,) and h.rollback_target() is None
    h = chain.verify_chain("production", build([("promote", A, A), ("promote", B, B), ("retire", B, None)]))
    assert h.current is None and h.rollback_target() == A
    h = chain.verify_chain("production", build([("promote", A, A), ("promote", B, B), ("retire", A, B)]))
    assert h.current == B and h.rollback_target() is None  # a retired model is never rolled back to
    h = chain.verify_chain("production", build([("promote", A, A), ("demote", A, None), ("rollback", A, A)]))
    assert h.current == A


def test_a_deleted_entry_is_detected() -> None:
    entries = build([("promote", A, A), ("promote", B, B), ("promote", C, C)])
    del entries[1]
    with pytest.raises(HistoryError, match="sequence 3 where 2"):
        chain.verify_chain("production", entries)


def test_a_reordered_chain_is_detected() -> None:
    entries = build([("promote", A, A), ("promote", B, B), ("promote", C, C)])
    entries[1], entries[2] = entries[2], entries[1]
    with pytest.raises(HistoryError, match="sequence"):
        chain.verify_chain("production", entries)


def test_a_replaced_predecessor_is_detected() -> None:
    entries = build([("promote", A, A), ("promote", B, B)])
    entries[0] = replace(entries[0], digest=_d(9))  # same record, another entry index in its place
    with pytest.raises(HistoryError, match="names previous entry"):
        chain.verify_chain("production", entries)


def test_a_rollback_to_an_arbitrary_model_is_refused() -> None:
    entries = build([("promote", A, A), ("promote", B, B), ("rollback", C, C)])
    with pytest.raises(HistoryError, match="replaying the history gives"):
        chain.verify_chain("production", entries)


def test_a_record_about_another_stage_or_with_a_wrong_from_is_refused() -> None:
    with pytest.raises(HistoryError, match="for stage 'staging'"):
        chain.verify_chain("production", build([("promote", A, A)], stage="staging"))
    entries = build([("promote", A, A), ("promote", B, B)])
    entries[1] = replace(entries[1], promotion=replace(entries[1].promotion, from_digest=C))
    with pytest.raises(HistoryError, match="the stage held"):
        chain.verify_chain("production", entries)


def test_time_never_goes_backwards() -> None:
    entries = build([("promote", A, A), ("promote", B, B)])
    entries[1] = replace(entries[1], promotion=replace(entries[1].promotion, time="2025-12-31T00:00:00Z"))
    with pytest.raises(HistoryError, match="before the entry it follows"):
        chain.verify_chain("production", entries)


def test_at_answers_what_was_in_the_stage() -> None:
    h = chain.verify_chain("production", build([("promote", A, A), ("promote", B, B)]))
    assert h.at(dt.datetime(2026, 1, 1, 0, 1, 30, tzinfo=dt.UTC)).subject == A
    assert h.at(dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)).subject == B
    assert h.at(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)) is None


def test_untracked_moves() -> None:
    h = chain.verify_chain("production", build([("promote", A, A)]))
    chain.check_stage_tag(h, A, MARKER)
    with pytest.raises(UntrackedMove, match="untracked move"):
        chain.check_stage_tag(h, B, MARKER)
    with pytest.raises(UntrackedMove):
        chain.check_stage_tag(h, None, MARKER)
    empty = chain.verify_chain("production", build([("promote", A, A), ("demote", A, None)]))
    chain.check_stage_tag(empty, None, MARKER)
    chain.check_stage_tag(empty, MARKER, MARKER)
    with pytest.raises(UntrackedMove, match="has no history"):
        chain.check_stage_tag(chain.empty("production"), A, MARKER)


def test_checkpoints() -> None:
    h = chain.verify_chain("production", build([("promote", A, A), ("promote", B, B)]))
    chain.check_extends(h, None)
    chain.check_extends(h, Checkpoint(h.entries[0].digest, 1))
    chain.check_extends(h, chain.after(h))
    with pytest.raises(HistoryRewritten, match="cut back"):
        chain.check_extends(h, Checkpoint(_d(3), 3))
    with pytest.raises(HistoryRewritten, match="rewritten"):
        chain.check_extends(h, Checkpoint(_d(7), 2))


def test_chains_are_bounded() -> None:
    with pytest.raises(HistoryError, match="more than"):
        chain.verify_chain("production", build([("promote", A, A)]) * (chain.MAX_ENTRIES + 1))
