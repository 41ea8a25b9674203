"""The whole lifecycle, on the local store and on registry:2, with real keys and the policy of the docs:
pack → sign → attest evaluation → two approvals → staging → production → a newer version through the same
gates → rollback → the history lists every step with verified signers and answers "what was in production
at T, and who approved it"."""

from __future__ import annotations

import pytest

import modelcrate
from modelcrate import lifecycle
from modelcrate.errors import PolicyViolation

from .conftest import World


def test_whole_story(world: World) -> None:
    gate = world.gate()
    v1 = world.ready("1.0.0")
    world.clock.tick()
    lifecycle.promote(f"{world.name}:1.0.0", to="staging", signer=world.signer("carol"), reason="first cut",
                      gate=gate, ctx=world.ctx())
    world.clock.tick()
    promoted = lifecycle.promote(f"{world.name}:1.0.0", to="production", signer=world.signer("alice"),
                                 reason="CAB-101", gate=gate, ctx=world.ctx())
    t_v1 = world.clock.now
    kinds = {e.kind for e in promoted.appended.promotion.evidence}
    assert kinds == {"signature", "attestation", "approval"}
    approvers = {e.signer for e in promoted.appended.promotion.evidence if e.kind == "approval"}
    assert approvers == {world.signer("bob").description, world.signer("carol").description}

    v2 = world.ready("1.1.0", accuracy=0.97)
    world.clock.tick()
    lifecycle.promote(f"{world.name}:1.1.0", to="staging", signer=world.signer("carol"), gate=gate, ctx=world.ctx())
    world.clock.tick()
    lifecycle.promote(f"{world.name}:1.1.0", to="production", signer=world.signer("alice"), reason="CAB-102",
                      gate=gate, ctx=world.ctx())
    t_v2 = world.clock.now
    assert modelcrate.resolve(f"{world.name}:production", gate=gate, config=world.config()).digest == v2.digest

    world.clock.tick()
    back = lifecycle.rollback(world.name, stage="production", signer=world.signer("bob"), reason="latency",
                              gate=gate, ctx=world.ctx())
    assert back.appended.promotion.action == "rollback" and back.appended.stage_tag.digest == v1.digest
    resolved = modelcrate.resolve(f"{world.name}:production", gate=gate, config=world.config())
    assert resolved.reference == f"{world.name}@{v1.digest}"

    [report] = lifecycle.history(world.name, stage="production", gate=gate, ctx=world.ctx())
    steps = [(e.promotion.action, e.subject, e.signer) for e in report.history.entries]
    alice, bob = world.verifier("alice").description, world.verifier("bob").description
    assert steps == [("promote", v1.digest, alice), ("promote", v2.digest, alice), ("rollback", v1.digest, bob)]
    assert report.signers_verified and report.untracked is None
    at = report.at(t_v1)
    assert at is not None and at.subject == v1.digest and at.promotion.reason == "CAB-101"
    assert report.at(t_v2).subject == v2.digest
    assert report.at(t_v1.replace(year=2025)) is None
    every = lifecycle.history(world.name, gate=gate, ctx=world.ctx())
    assert [r.stage for r in every] == ["staging", "production"]

    status = lifecycle.status(world.name, gate=gate, ctx=world.ctx())
    rows = {v.tag: v for v in status.versions}
    assert set(rows) == {"1.0.0", "1.1.0"}
    assert rows["1.0.0"].stages == ("production",) and rows["1.1.0"].stages == ("staging",)
    assert rows["1.1.0"].signatures == (world.verifier("release").description,)
    assert len(rows["1.1.0"].approvals) == 2


def test_promotion_refused_with_the_failed_rule(world: World) -> None:
    gate = world.gate()
    desc = world.pack("2.0.0", accuracy=0.5)
    world.sign(desc)
    with pytest.raises(PolicyViolation) as err:
        lifecycle.promote(f"{world.name}:2.0.0", to="production", signer=world.signer("alice"), gate=gate,
                          ctx=world.ctx())
    text = str(err.value)
    assert "from staging" in text and "accuracy" in text and "approvals" in text
    # Nothing was written: no history, no stage tag.
    assert lifecycle.history(world.name, stage="production", gate=gate, ctx=world.ctx())[0].history.entries == ()


def test_only_listed_promoters_may_promote(world: World) -> None:
    gate = world.gate()
    world.ready("3.0.0")
    lifecycle.promote(f"{world.name}:3.0.0", to="staging", signer=world.signer("carol"), gate=gate, ctx=world.ctx())
    with pytest.raises(PolicyViolation, match="promoters"):
        lifecycle.promote(f"{world.name}:3.0.0", to="production", signer=world.signer("mallory"), gate=gate,
                          ctx=world.ctx())


def test_resolve_refuses_a_stage_without_promoters(world: World) -> None:
    gate = world.gate()
    world.pack("5.0.0")
    lifecycle.promote(f"{world.name}:5.0.0", to="staging", signer=world.signer("mallory"), gate=gate, ctx=world.ctx())
    with pytest.raises(PolicyViolation, match="names no promoters for staging"):
        modelcrate.resolve(f"{world.name}:staging", gate=gate, config=world.config())
    # With the keys a reader trusts, the same stage resolves only if they signed it.
    with pytest.raises(PolicyViolation, match="not signed by an allowed promoter"):
        modelcrate.resolve(f"{world.name}:staging", verifier=world.verifier("alice"), config=world.config())
