"""Deployment records on the local store and registry:2: where a version runs, since when, from which stage;
the environment's stage binding (warning, --strict refusal) and its deployers."""

from __future__ import annotations

import pytest

from modelcrate import lifecycle
from modelcrate.errors import PolicyViolation, UsageError
from modelcrate.tracking import api as tracking

from .conftest import World

POLICY_ENV = """\
stages:
  staging: {}
  production:
    from: [staging]
    promoters: [{key: keys/alice.pub}]
environments:
  prod-eu: {stage: production}
  staging-eu: {stage: staging, deployers: [{key: keys/carol.pub}]}
"""


def _promote(world: World, version: str, gate, *stages: str) -> None:
    for stage in stages:
        world.clock.tick()
        lifecycle.promote(f"{world.name}:{version}", to=stage, signer=world.signer("alice"), gate=gate,
                          ctx=world.ctx())


def test_deployments_over_time(world: World) -> None:
    gate = world.gate(POLICY_ENV)
    v1 = world.pack("1.0.0")
    v2 = world.pack("1.1.0")
    _promote(world, "1.0.0", gate, "staging", "production")
    world.clock.tick()
    rec = tracking.record_deployment(f"{world.name}:1.0.0", environment="prod-eu", signer=world.signer("bob"),
                                     endpoint="https://bert.prod-eu.example", replicas=3, gate=gate,
                                     ctx=world.ctx())
    t1 = world.clock.now
    [head] = lifecycle.history(world.name, stage="production", gate=gate, ctx=world.ctx())
    assert rec.warnings == () and rec.fields.stage == "production"
    assert rec.fields.history_entry == head.history.head.digest

    # 1.1.0 is only in no stage: recorded with a warning; --strict refuses and writes nothing.
    world.clock.tick()
    with pytest.raises(PolicyViolation, match="not in production"):
        tracking.record_deployment(f"{world.name}:1.1.0", environment="prod-eu", signer=world.signer("bob"),
                                   strict=True, gate=gate, ctx=world.ctx())
    before = tracking.deployments(world.name, verifier=world.verifier("bob"), ctx=world.ctx())
    assert [d.fields.digest for d in before.events] == [v1.digest]
    warned = tracking.record_deployment(f"{world.name}:1.1.0", environment="prod-eu",
                                        signer=world.signer("bob"), gate=gate, ctx=world.ctx())
    assert warned.warnings and "not in production" in warned.warnings[0] and warned.fields.stage is None
    t2 = world.clock.now

    now = tracking.deployments(world.name, verifier=world.verifier("bob"), ctx=world.ctx())
    assert now.running["prod-eu"].fields.digest == v2.digest
    assert [(d.version, d.fields.event) for d in now.events] == [("1.0.0", "record"), ("1.1.0", "record")]
    then = tracking.deployments(world.name, at=t1, verifier=world.verifier("bob"), ctx=world.ctx())
    assert then.running["prod-eu"].fields.digest == v1.digest and then.running["prod-eu"].fields.replicas == 3

    world.clock.tick()
    tracking.record_deployment(f"{world.name}:1.1.0", environment="prod-eu", signer=world.signer("bob"),
                               event="end", gate=gate, ctx=world.ctx())
    after = tracking.deployments(world.name, verifier=world.verifier("bob"), ctx=world.ctx())
    assert after.running == {} and len(after.events) == 3
    assert tracking.deployments(world.name, at=t2, verifier=world.verifier("bob"),
                                ctx=world.ctx()).running["prod-eu"].fields.digest == v2.digest
    # Records by a key the reader does not trust do not count.
    assert tracking.deployments(world.name, verifier=world.verifier("mallory"), ctx=world.ctx()).events == ()


def test_environment_deployers(world: World) -> None:
    gate = world.gate(POLICY_ENV)
    world.pack("2.0.0")
    _promote(world, "2.0.0", gate, "staging")
    with pytest.raises(PolicyViolation, match="may not record deployments into staging-eu"):
        tracking.record_deployment(f"{world.name}:2.0.0", environment="staging-eu", signer=world.signer("bob"),
                                   gate=gate, ctx=world.ctx())
    # A record by bob written without the policy is not accepted by a reader that applies it.
    tracking.record_deployment(f"{world.name}:2.0.0", environment="staging-eu", signer=world.signer("bob"),
                               ctx=world.ctx())
    world.clock.tick()
    tracking.record_deployment(f"{world.name}:2.0.0", environment="staging-eu", signer=world.signer("carol"),
                               gate=gate, ctx=world.ctx())
    found = tracking.deployments(world.name, gate=gate, ctx=world.ctx())
    assert [d.signer for d in found.events] == [world.verifier("carol").description]
    assert found.running["staging-eu"].fields.stage == "staging"


def test_hostile_deployment_input(local_world: World) -> None:
    world = local_world
    world.pack("3.0.0")
    for bad in ("Prod", "../x", "a" * 80, ""):
        with pytest.raises(UsageError):
            tracking.record_deployment(f"{world.name}:3.0.0", environment=bad, signer=world.signer("bob"),
                                       ctx=world.ctx())
    with pytest.raises(UsageError, match="endpoint"):
        tracking.record_deployment(f"{world.name}:3.0.0", environment="dev", signer=world.signer("bob"),
                                   endpoint="not a url", ctx=world.ctx())
    with pytest.raises(UsageError, match="whose records to trust"):
        tracking.deployments(world.name, ctx=world.ctx())
