"""Deprecation and retirement on the local store and registry:2: signed records, the policy's refusal of a
deprecated model, retirement from every stage, and a history that still proves what a stage held."""

from __future__ import annotations

import pytest

import modelcrate
from modelcrate import lifecycle
from modelcrate.errors import PolicyViolation, UsageError
from modelcrate.lifecycle.deprecation import deprecation_of
from modelcrate.lifecycle.records import parse_deprecation

from .conftest import World


def test_deprecation_is_signed_found_and_refused_by_the_policy(world: World) -> None:
    gate = world.gate()
    v1 = world.ready("1.0.0")
    v2 = world.pack("1.1.0")
    lifecycle.promote(f"{world.name}:1.0.0", to="staging", signer=world.signer("carol"), gate=gate, ctx=world.ctx())
    world.clock.tick()
    lifecycle.deprecate(f"{world.name}:1.0.0", reason="data leak in training set", successor=f"{world.name}:1.1.0",
                        signer=world.signer("alice"), ctx=world.ctx())
    record = deprecation_of(world.target(), v1, world.name, world.verifier("alice"))
    assert record is not None and record.signer == world.verifier("alice").description
    facts = parse_deprecation(record.predicate)
    assert facts.successor == f"{world.name}@{v2.digest}" and facts.status == "deprecated"
    # Signed by a key nobody trusts: no deprecation as far as this reader is concerned.
    assert deprecation_of(world.target(), v1, world.name, world.verifier("mallory")) is None
    with pytest.raises(PolicyViolation, match="deprecated: the model is deprecated: data leak"):
        lifecycle.promote(f"{world.name}:1.0.0", to="production", signer=world.signer("alice"), gate=gate,
                          ctx=world.ctx())
    resolved = modelcrate.resolve(f"{world.name}:1.0.0", gate=gate, config=world.config())
    assert any("deprecated: data leak" in w for w in resolved.warnings)


def test_retire_takes_the_model_out_of_every_stage(world: World) -> None:
    v1, v2 = world.pack("1.0.0"), world.pack("2.0.0")
    for stage in ("staging", "production"):
        lifecycle.promote(f"{world.name}:1.0.0", to=stage, signer=world.signer("alice"), ctx=world.ctx())
    lifecycle.promote(f"{world.name}:2.0.0", to="staging", signer=world.signer("alice"), ctx=world.ctx())
    retired = lifecycle.retire(f"{world.name}:1.0.0", signer=world.signer("alice"), reason="CVE-2026-1",
                               delete=True, ctx=world.ctx())
    assert {a.stage: a.promotion.to_digest for a in retired.stages} == {"staging": v2.digest, "production": None}
    assert retired.deleted == (world.registry is None)  # registry 2.8.2 deletes manifests, not tags
    reports = {r.stage: r for r in lifecycle.history(world.name, verifier=world.verifier("alice"), ctx=world.ctx())}
    assert reports["production"].history.current is None and reports["production"].untracked is None
    assert reports["staging"].history.current == v2.digest
    assert reports["production"].history.entries[0].subject == v1.digest  # still provable
    with pytest.raises(UsageError, match="no earlier model"):  # a retired model is never rolled back to
        lifecycle.rollback(world.name, stage="staging", signer=world.signer("alice"), ctx=world.ctx())
    with pytest.raises(PolicyViolation, match="empty"):
        modelcrate.resolve(f"{world.name}:production", verifier=world.verifier("alice"), config=world.config())
    record = deprecation_of(world.target(), v1, world.name, world.verifier("alice"))
    assert parse_deprecation(record.predicate).status == "retired"


def test_demote_then_rollback_restores(world: World) -> None:
    v1 = world.pack("1.0.0")
    lifecycle.promote(f"{world.name}:1.0.0", to="dev", signer=world.signer("alice"), ctx=world.ctx())
    lifecycle.demote(world.name, stage="dev", signer=world.signer("alice"), reason="pause", ctx=world.ctx())
    assert world.target().resolve("dev").digest != v1.digest  # the empty-stage marker
    back = lifecycle.rollback(world.name, stage="dev", signer=world.signer("alice"), ctx=world.ctx())
    assert back.appended.stage_tag.digest == v1.digest


def test_the_history_outlives_the_model_in_the_local_store(local_world: World) -> None:
    """After retire --delete and garbage collection, the model's blobs are gone but its history still verifies."""
    from modelcrate import api

    world = local_world
    v1 = world.pack("1.0.0")
    lifecycle.promote(f"{world.name}:1.0.0", to="production", signer=world.signer("alice"), ctx=world.ctx())
    lifecycle.retire(f"{world.name}:1.0.0", signer=world.signer("alice"), delete=True, ctx=world.ctx())
    store = api.open_store(world.ctx().config)
    assert store.gc() is not None
    assert not store.has_blob(v1.digest)
    [report] = lifecycle.history(world.name, stage="production", verifier=world.verifier("alice"), ctx=world.ctx())
    assert [e.promotion.action for e in report.history.entries] == ["promote", "retire"]
    assert report.history.entries[0].subject == v1.digest and report.untracked is None


def test_pull_warns_about_a_deprecated_model(registry_world: World, tmp_path) -> None:
    import subprocess

    from modelcrate import signatures as _sig
    from modelcrate.signing import keys
    from tests.conftest import cli_path

    world = registry_world
    world.pack("1.0.0")
    ref = f"{world.name}:1.0.0"
    signatures_target = world.target()
    _sig.sign(signatures_target, signatures_target.resolve("1.0.0"), world.name, world.signer("alice"),
              created=world.clock.now)
    lifecycle.deprecate(ref, reason="superseded by 2.0", signer=world.signer("alice"), ctx=world.ctx())
    pub = tmp_path / "alice.pub"
    pub.write_bytes(keys.public_pem(world.keys["alice"]))
    env = {"MODELCRATE_HOME": str(tmp_path / "pull-home"), "DOCKER_CONFIG": str(tmp_path / "docker-config"),
           "PATH": "/usr/bin:/bin"}
    r = subprocess.run([cli_path(), "pull", ref, "--key", str(pub)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "is deprecated: superseded by 2.0" in r.stderr
