"""Tampering with a stage's history, on the local store and registry:2: a deleted or altered record, a stage
tag moved by a raw registry client, a history rewritten and re-signed by an allowed key after this client
saw the old head (the checkpoint refuses it), and two promoters racing (both records survive)."""

from __future__ import annotations

import io
import subprocess
import threading
import urllib.request

import pytest

import modelcrate
from modelcrate import lifecycle
from modelcrate.content.target import Target
from modelcrate.content.verify import read_all
from modelcrate.format.descriptor import Descriptor, parse_manifest
from modelcrate.format.mediatypes import OCI_INDEX, OCI_MANIFEST
from modelcrate.lifecycle import Context
from modelcrate.lifecycle.chain import HistoryError, HistoryRewritten, UntrackedMove
from modelcrate.lifecycle.reader import head_of, read_history
from modelcrate.lifecycle.writer import _Writer, plan_promote
from modelcrate.lifecycle.records import build_entry, parse_entry
from modelcrate.lifecycle.stages import head_tag
from modelcrate.settings import Settings
from modelcrate.signing import bundle as _bundle

from .conftest import World

STAGE = "production"


def _raw(target: Target, desc: Descriptor) -> bytes:
    with target.fetch(desc) as stream:
        return read_all(stream, desc, 1 << 22)


def _entry(target: Target, digest: str) -> Descriptor:
    return Descriptor(OCI_INDEX, digest, target.resolve(digest).size)


def _three(world: World) -> list[Descriptor]:
    """Three versions promoted one after the other by alice, without a policy."""
    out = []
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        desc = world.pack(v)
        world.clock.tick()
        lifecycle.promote(f"{world.name}:{v}", to=STAGE, signer=world.signer("alice"), ctx=world.ctx())
        out.append(desc)
    return out


def _history(world: World, ctx: Context | None = None):
    [report] = lifecycle.history(world.name, stage=STAGE, verifier=world.verifier("alice", "bob"),
                                 ctx=ctx or world.ctx())
    return report


def _push_entry(target: Target, raw: bytes) -> Descriptor:
    desc = Descriptor.of(OCI_INDEX, raw)
    target.push(desc, io.BytesIO(raw))
    target.tag(desc, head_tag(STAGE))
    return desc


def test_a_deleted_record_is_detected(world: World) -> None:
    _three(world)
    target = world.target()
    entries = _history(world).history.entries
    first, third = entries[0], entries[2]
    # Splice the third entry onto the first, as an attacker deleting the second would.
    spliced = build_entry(third.node.record, _entry(target, first.digest), third.node.subject, stage=STAGE,
                          sequence=2, created="2026-03-01T10:00:00Z")
    _push_entry(target, spliced)
    with pytest.raises(HistoryError, match="an entry is missing"):
        _history(world)


def test_an_altered_record_is_detected(world: World) -> None:
    _three(world)
    target = world.target()
    head = head_of(target, STAGE)
    node = parse_entry(_raw(target, head))
    record = parse_manifest(_raw(target, node.record))
    statement = _bundle.unverified_statement_of(_raw(target, record.layers[0]))
    forged = statement.replace(b'"reason":""', b'"reason":"approved by the board"')
    assert forged != statement
    bundle = world.signer("mallory").sign_statement(forged)  # the attacker lacks alice's key
    blob = Descriptor.of(record.layers[0].media_type, bundle)
    target.push(blob, io.BytesIO(bundle))
    raw = record.raw.replace(record.layers[0].digest.encode(), blob.digest.encode()).replace(
        f'"size":{record.layers[0].size}'.encode(), f'"size":{blob.size}'.encode())
    rec_desc = Descriptor.of(OCI_MANIFEST, raw, artifact_type=node.record.artifact_type,
                             annotations=node.record.annotations)
    target.push(rec_desc.bare(), io.BytesIO(raw))
    _push_entry(target, build_entry(rec_desc, node.previous, node.subject, stage=STAGE, sequence=node.sequence,
                                    created="2026-03-01T10:00:00Z"))
    with pytest.raises(HistoryError, match="not signed by an allowed promoter"):
        _history(world)


def _raw_retag(world: World, desc: Descriptor) -> None:
    """Move the stage tag as a plain registry client would: skopeo for the registry, a bare tag locally."""
    if world.registry is None:
        world.target().tag(desc, STAGE)
        return
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests",
                    f"docker://{world.name}:1.0.0", f"docker://{world.name}:{STAGE}"],
                   check=True, capture_output=True, timeout=120)


def test_a_stage_tag_moved_by_a_raw_client_is_an_untracked_move(world: World) -> None:
    v1, _v2, v3 = _three(world)
    _raw_retag(world, v1)
    report = _history(world)
    assert report.history.current == v3.digest and report.tagged == v1.digest
    assert "untracked move" in (report.untracked or "")
    with pytest.raises(UntrackedMove):
        modelcrate.resolve(f"{world.name}:{STAGE}", verifier=world.verifier("alice"), config=world.config())


def test_an_http_put_to_the_stage_tag_is_an_untracked_move(registry_world: World) -> None:
    world = registry_world
    v1, _v2, _v3 = _three(world)
    raw = _raw(world.target(), v1)
    req = urllib.request.Request(f"http://{world.registry}/v2/{world.repo}/manifests/{STAGE}", data=raw,
                                 method="PUT", headers={"Content-Type": OCI_MANIFEST})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 201
    with pytest.raises(UntrackedMove, match="untracked move"):
        modelcrate.resolve(f"{world.name}:{STAGE}", verifier=world.verifier("alice"), config=world.config())


def test_a_rewritten_history_resigned_by_an_allowed_key_is_refused_after_a_checkpoint(world: World) -> None:
    v1, v2, v3 = _three(world)
    seen = _history(world)  # this client verifies (and remembers) head #3
    assert seen.history.head.sequence == 3
    target = world.target()
    # Bob (an allowed promoter) forks the history after #1: a different #2, then retags the head and stage.
    first = read_history(target, STAGE, world.verifier("alice"), head=_entry(target, seen.history.entries[0].digest))
    writer = _Writer(target, world.name, STAGE, world.signer("bob"), plan_promote(v3), world.verifier("alice", "bob"),
                     None, None, world.clock.tick(), None)
    fork = writer._build(first, _entry(target, first.head.digest), plan_promote(v3)(first))
    target.tag(fork, head_tag(STAGE))
    assert target.resolve(STAGE).digest == v3.digest  # the stage tag agrees with the forged head
    with pytest.raises(HistoryRewritten, match="cut back"):
        _history(world)
    with pytest.raises(HistoryRewritten):
        modelcrate.resolve(f"{world.name}:{STAGE}", verifier=world.verifier("alice", "bob"), config=world.config())
    # A client that never saw the old head cannot tell: the checkpoint is what detects the rewrite.
    if world.registry is not None:
        fresh = Context(Settings(world.tmp / "other-home"), world.remote, world.clock.now)
    else:  # the local store is the client's own home: forget its checkpoints instead
        (world.home / "state" / "history-checkpoints.json").unlink()
        fresh = world.ctx()
    assert _history(world, fresh).history.head.sequence == 2


@pytest.mark.parametrize("promoters", [2, 3])
def test_racing_promoters_lose_no_record(world: World, promoters: int) -> None:
    versions = [f"4.{i}.0" for i in range(promoters)]
    for v in versions:
        world.pack(v)
    barrier = threading.Barrier(promoters)
    errors: list[BaseException] = []

    def run(v: str) -> None:
        ctx = Context(Settings(world.home), world.remote, world.clock.now)
        barrier.wait()
        try:
            lifecycle.promote(f"{world.name}:{v}", to="staging", signer=world.signer("alice"), ctx=ctx)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    [report] = lifecycle.history(world.name, stage="staging", verifier=world.verifier("alice"), ctx=world.ctx())
    assert len(report.history.entries) == promoters
    assert report.untracked is None and report.tagged == report.history.current


def test_a_graph_copy_of_the_head_tag_carries_the_whole_history(registry_world: World) -> None:
    from modelcrate import api

    world = registry_world
    _three(world)
    mirror = f"{world.registry}/{world.repo}-mirror"
    api.copy(f"{world.name}:{head_tag(STAGE)}", f"{mirror}:{head_tag(STAGE)}", config=world.ctx().config)
    [report] = lifecycle.history(mirror, stage=STAGE, verifier=world.verifier("alice"), ctx=world.ctx())
    assert [e.sequence for e in report.history.entries] == [1, 2, 3]
    assert report.tagged is None and "untracked move" in report.untracked  # the stage tag was not copied
