"""Hostile history content in a store, each refused with one clear error: a head tag naming something that is
not a history entry, a dangling or oversized record, an entry of another stage, and promoting a non-model."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from modelcrate import signatures
from modelcrate.content.memory import MemoryStore
from modelcrate.errors import UsageError
from modelcrate.format.descriptor import Descriptor, build_index, build_manifest
from modelcrate.format.mediatypes import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from modelcrate.lifecycle import writer as P
from modelcrate.lifecycle.chain import HistoryError
from modelcrate.lifecycle.reader import read_history
from modelcrate.lifecycle.records import HISTORY_ENTRY_TYPE, build_entry, empty_stage
from modelcrate.lifecycle.stages import head_tag, validate_stage
from modelcrate.signing import keys

KEY = keys.generate()
SIGNER, VERIFIER = signatures.KeySigner(KEY), signatures.KeyVerifier(KEY.public_key())
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _put(store: MemoryStore, media_type: str, raw: bytes) -> Descriptor:
    desc = Descriptor.of(media_type, raw)
    store.push(desc, io.BytesIO(raw))
    return desc


def _model(store: MemoryStore, x: str = "a") -> Descriptor:
    _put(store, OCI_EMPTY, b"{}")
    return _put(store, OCI_MANIFEST, build_manifest(Descriptor.of(OCI_EMPTY, b"{}"), [], annotations={"x": x}))


def _promoted(store: MemoryStore) -> Descriptor:
    model = _model(store)
    P.append(store, "m", "production", SIGNER, P.plan_promote(model), reader=VERIFIER, allowed=VERIFIER,
             policy_digest=None, created=NOW)
    return model


def test_a_head_tag_naming_a_model_is_refused() -> None:
    store = MemoryStore("m")
    store.tag(_model(store), head_tag("production"))
    with pytest.raises(HistoryError, match="not a history entry"):
        read_history(store, "production", VERIFIER)


def test_a_dangling_record_is_refused() -> None:
    store = MemoryStore("m")
    model = _model(store)
    ghost = Descriptor(OCI_MANIFEST, "sha256:" + "9" * 64, 500)
    store.tag(_put(store, OCI_INDEX, build_entry(ghost, None, model, stage="production", sequence=1,
                                                 created="2026-01-01T00:00:00Z")), head_tag("production"))
    with pytest.raises(HistoryError, match="missing"):
        read_history(store, "production", VERIFIER)


def test_an_oversized_entry_is_refused_before_it_is_read() -> None:
    store = MemoryStore("m")
    huge = Descriptor(OCI_INDEX, "sha256:" + "8" * 64, 1 << 40)
    store.blobs[huge.digest] = b"{}"
    store.tag_map[head_tag("production")] = huge
    with pytest.raises(HistoryError, match="over the"):
        read_history(store, "production", VERIFIER)


def test_an_entry_of_another_stage_is_refused() -> None:
    store = MemoryStore("m")
    _promoted(store)
    store.tag(store.resolve(head_tag("production")), head_tag("staging"))
    with pytest.raises(HistoryError, match="for stage 'production', not 'staging'"):
        read_history(store, "staging", VERIFIER)


def test_an_index_that_is_not_a_history_entry_is_refused() -> None:
    store = MemoryStore("m")
    store.tag(_put(store, OCI_INDEX, build_index([], artifact_type="application/x-other")), head_tag("production"))
    with pytest.raises(HistoryError, match=HISTORY_ENTRY_TYPE.split("/")[1][:20]):
        read_history(store, "production", VERIFIER)


def test_the_empty_marker_is_not_promoted(local_world) -> None:
    from modelcrate import lifecycle

    world = local_world
    world.pack("1.0.0")
    lifecycle.promote(f"{world.name}:1.0.0", to="dev", signer=world.signer("alice"), ctx=world.ctx())
    lifecycle.demote(world.name, stage="dev", signer=world.signer("alice"), ctx=world.ctx())
    assert world.target().resolve("dev").digest == empty_stage("dev")[1].digest
    with pytest.raises(UsageError, match="not a model manifest"):
        lifecycle.promote(f"{world.name}:dev", to="staging", signer=world.signer("alice"), ctx=world.ctx())


@pytest.mark.parametrize("stage", ["Prod", "_history", "sha256-x", "a" * 33, "", "pro duction"])
def test_bad_stage_names(stage: str) -> None:
    with pytest.raises(UsageError):
        validate_stage(stage)


def test_a_walk_stops_at_its_limit() -> None:
    store = MemoryStore("m")
    for x in "abc":
        P.append(store, "m", "production", SIGNER, P.plan_promote(_model(store, x)), reader=VERIFIER,
                 allowed=VERIFIER, policy_digest=None, created=NOW)
    assert len(read_history(store, "production", VERIFIER).entries) == 3
    with pytest.raises(HistoryError, match="longer than 2 entries"):
        read_history(store, "production", VERIFIER, limit=2)
