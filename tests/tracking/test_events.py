"""The audit event stream over the whole lifecycle story: every event, verified, in time order, once; an
untracked stage move is reported; --follow emits each event once and --exec gets it on stdin."""

from __future__ import annotations

import json
from collections import Counter

from modelcrate import lifecycle
from modelcrate.tracking import api as tracking
from modelcrate.tracking.events import Event, follow

from .conftest import TRACKING_POLICY, World


def _story(world: World, tmp_path) -> tuple:
    gate = world.gate(TRACKING_POLICY)
    doc = tmp_path / "validation.md"
    doc.write_text("# Validation\n")
    versions = []
    for version, accuracy in (("1.0.0", 0.95), ("1.1.0", 0.97)):
        desc = world.ready(version, accuracy)
        world.clock.tick()
        tracking.attach(f"{world.name}:{version}", doc, doc_type="validation-report", signer=world.signer("release"),
                        ctx=world.ctx())
        for stage in ("staging", "production"):
            world.clock.tick()
            lifecycle.promote(f"{world.name}:{version}", to=stage, signer=world.signer("alice"), gate=gate,
                              ctx=world.ctx())
        world.clock.tick()
        tracking.record_deployment(f"{world.name}:{version}", environment="prod-eu", signer=world.signer("bob"),
                                   gate=gate, ctx=world.ctx())
        versions.append(desc)
    world.clock.tick()
    lifecycle.rollback(world.name, stage="production", signer=world.signer("bob"), reason="latency", gate=gate,
                       ctx=world.ctx())
    world.clock.tick()
    lifecycle.deprecate(f"{world.name}:1.1.0", reason="latency regression", signer=world.signer("alice"),
                        ctx=world.ctx())
    return gate, versions


def test_events_of_the_whole_story(world: World, tmp_path) -> None:
    gate, (v1, v2) = _story(world, tmp_path)
    world.clock.tick()
    found, notes = tracking.events(world.name, gate=gate, ctx=world.ctx())
    kinds = Counter(e.kind for e in found)
    assert kinds == Counter({"pushed": 2, "signed": 2, "attested": 2, "approved": 4, "attached": 2, "promoted": 4,
                             "deployed": 2, "rolled-back": 1, "deprecated": 1}), kinds
    governed = [e for e in found if e.kind != "pushed"]
    assert [e.time for e in governed] == sorted(e.time for e in governed)
    assert len({e.id for e in found}) == len(found)
    # The order of the story, as recorded (both evaluations say they were made at 08:00, before the rest).
    story = [(e.kind, e.version or e.details.get("stage")) for e in governed if e.kind != "signed"]
    assert set(story[:2]) == {("attested", "1.0.0"), ("attested", "1.1.0")}
    assert story[2:] == [("approved", "1.0.0"), ("approved", "1.0.0"), ("attached", "1.0.0"),
                     ("promoted", "staging"), ("promoted", "production"), ("deployed", "1.0.0"),
                     ("approved", "1.1.0"), ("approved", "1.1.0"), ("attached", "1.1.0"),
                     ("promoted", "staging"), ("promoted", "production"), ("deployed", "1.1.0"),
                     ("rolled-back", "production"), ("deprecated", "1.1.0")]
    rollback = next(e for e in found if e.kind == "rolled-back")
    assert rollback.digest == v1.digest and rollback.signer == world.verifier("bob").description
    assert rollback.details["reason"] == "latency"
    since = tracking.events(world.name, since=world.clock.now.replace(minute=0), gate=gate, ctx=world.ctx())[0]
    assert all(e.time >= world.clock.now.replace(minute=0).strftime("%Y-%m-%dT%H:%M:%SZ") for e in since)
    assert len(since) < len(found)


def test_untracked_move_is_an_event(local_world: World, tmp_path) -> None:
    world = local_world
    gate, (v1, v2) = _story(world, tmp_path)
    world.target().tag(v2, "production")  # a raw retag, no record
    found, _ = tracking.events(world.name, gate=gate, ctx=world.ctx())
    moved = [e for e in found if e.kind == "untracked-move"]
    assert len(moved) == 1 and moved[0].details["stage"] == "production" and moved[0].digest == v2.digest


def test_follow_emits_each_event_once_and_backs_off() -> None:
    batches = [[_e("a")], [_e("a")], [_e("a")], [_e("a"), _e("b")], [_e("a"), _e("b")]]
    waits: list[float] = []
    polls = iter(batches)
    got = list(follow(lambda: next(polls), waits.append, polls=5, interval=1.0, longest=3.0))
    assert [e.id for e in got] == ["a", "b"]
    assert waits == [1.0, 2.0, 3.0, 1.0]  # news, quiet (doubling, capped), news


def _e(name: str) -> Event:
    return Event("2026-03-01T00:00:00Z", "signed", "r", None, name)


def test_events_command_exec(run_cli, example, tmp_path) -> None:
    pw = {"MODELCRATE_KEY_PASSWORD": "pw"}
    assert run_cli("keygen", "--output-key-prefix", str(tmp_path / "ops"), env=pw).returncode == 0
    assert run_cli("pack", str(example), "-t", "ev/clf:1.0.0").returncode == 0
    assert run_cli("sign", "ev/clf:1.0.0", "--key", str(tmp_path / "ops.key"), env=pw).returncode == 0
    out = tmp_path / "seen.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(f"import sys\nopen({str(out)!r}, 'a').write(sys.stdin.read())\n")
    import sys

    r = run_cli("events", "ev/clf", "--key", str(tmp_path / "ops.pub"), "--json", "--follow", "--polls", "2",
                "--interval", "0", "--exec", f"{sys.executable} {hook}")
    assert r.returncode == 0, r.stderr
    printed = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["event"] for e in printed] == ["pushed", "signed"]
    assert [json.loads(line) for line in out.read_text().splitlines()] == printed
