"""Attached documents round-trip byte-identical and digest-verified; a stage can require a document type;
monitoring feedback over time; a candidate compared with what production holds now."""

from __future__ import annotations

import io

import pytest

from modelcrate import lifecycle
from modelcrate.content.referrers import list_referrers
from modelcrate.lifecycle.gate import StageContext
from modelcrate.errors import DigestMismatch, NotFound, PolicyViolation, UsageError
from modelcrate.signatures import attest
from modelcrate.tracking import api as tracking

from .conftest import World

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
COMPARE = """\
stages:
  staging: {}
  production:
    from: [staging]
    signatures: [{key: keys/release.pub}]
    metrics: ["accuracy >= production.accuracy - 0.01"]
    documents: [validation-report]
    promoters: [{key: keys/alice.pub}]
"""


def test_attachment_round_trip(world: World, tmp_path) -> None:
    desc = world.pack("1.0.0")
    doc = tmp_path / "validation.pdf"
    doc.write_bytes(PDF)
    ref, stored, att = tracking.attach(f"{world.name}:1.0.0", doc, doc_type="validation-report",
                                       signer=world.signer("release"), ctx=world.ctx())
    assert att.fields.media_type == "application/pdf" and att.fields.size == len(PDF)
    # The document is its own referrer with its own artifact type and the file's media type.
    kinds = {r.artifact_type: r for r in list_referrers(world.target(), desc)}
    document = kinds["application/vnd.modelcrate.attachment.validation-report.v1"]
    assert document.manifest.layers[0].media_type == "application/pdf"
    fetched = tracking.get_attachment(f"{world.name}:1.0.0", doc_type="validation-report",
                                      verifier=world.verifier("release"), ctx=world.ctx())
    assert fetched.data == PDF
    out = tracking.save(fetched, tmp_path / "out.pdf")
    assert out.read_bytes() == PDF
    with pytest.raises(Exception, match="exists"):
        tracking.save(fetched, out)
    # Only a trusted signer's record counts.
    with pytest.raises(NotFound):
        tracking.get_attachment(f"{world.name}:1.0.0", doc_type="validation-report",
                                verifier=world.verifier("mallory"), ctx=world.ctx())
    assert [a.fields.doc_type for a in tracking.attachments(f"{world.name}:1.0.0",
                                                            verifier=world.verifier("release"),
                                                            ctx=world.ctx())] == ["validation-report"]


def test_a_swapped_document_blob_is_refused(local_world: World, tmp_path) -> None:
    world = local_world
    world.pack("1.0.0")
    doc = tmp_path / "risk.md"
    doc.write_text("# Risks\n")
    _, _, att = tracking.attach(f"{world.name}:1.0.0", doc, doc_type="risk-assessment",
                                signer=world.signer("release"), ctx=world.ctx())
    assert att.fields.media_type == "text/markdown"
    blob = world.home / "blobs" / "sha256" / att.fields.digest[7:]
    blob.chmod(0o644)
    blob.write_bytes(b"# Rusks\n")  # same size, other bytes
    with pytest.raises(DigestMismatch, match="hashes to"):
        tracking.get_attachment(f"{world.name}:1.0.0", doc_type="risk-assessment",
                                verifier=world.verifier("release"), ctx=world.ctx())


def test_hostile_attachment_names(local_world: World, tmp_path) -> None:
    world = local_world
    world.pack("1.0.0")
    doc = tmp_path / "x.txt"
    doc.write_text("x")
    with pytest.raises(UsageError, match="document type"):
        tracking.attach(f"{world.name}:1.0.0", doc, doc_type="../etc", signer=world.signer("release"),
                        ctx=world.ctx())
    hidden = tmp_path / ".hidden"
    hidden.write_text("x")
    with pytest.raises(UsageError, match="plain file name"):
        tracking.attach(f"{world.name}:1.0.0", hidden, doc_type="license", signer=world.signer("release"),
                        ctx=world.ctx())


def _monitor(world: World, desc, accuracy: float, end: str, who: str = "release") -> None:
    predicate = {"metrics": [{"name": "accuracy", "value": accuracy, "dataset": "live"}],
                 "created": end, "phase": "production", "window": {"start": "2026-03-01T00:00:00Z", "end": end}}
    attest(world.target(), desc, world.name, world.signer(who), "evaluation", predicate, created=world.clock.now)


def test_candidate_compared_with_production(world: World, tmp_path) -> None:
    gate = world.gate(COMPARE)
    doc = tmp_path / "validation.pdf"
    doc.write_bytes(PDF)
    ctx = world.ctx
    v1 = world.pack("1.0.0", accuracy=0.95)
    world.sign(v1)
    tracking.attach(f"{world.name}:1.0.0", doc, doc_type="validation-report", signer=world.signer("release"),
                    ctx=ctx())
    lifecycle.promote(f"{world.name}:1.0.0", to="staging", signer=world.signer("alice"), gate=gate, ctx=ctx())
    # Nothing in production yet (by its verified history): the first model has nothing to be compared with.
    world.clock.tick()
    first = lifecycle.promote(f"{world.name}:1.0.0", to="production", signer=world.signer("alice"), gate=gate,
                              ctx=ctx())
    assert any("production holds no model" in r.reason and r.passed for r in first.decision.rules)
    # Monitoring says production runs at 0.93 now (the metadata said 0.95).
    _monitor(world, v1, 0.93, "2026-03-08T00:00:00Z")

    v2 = world.pack("1.1.0", accuracy=0.91)
    world.sign(v2)
    tracking.attach(f"{world.name}:1.1.0", doc, doc_type="validation-report", signer=world.signer("release"),
                    ctx=ctx())
    world.clock.tick()
    lifecycle.promote(f"{world.name}:1.1.0", to="staging", signer=world.signer("alice"), gate=gate, ctx=ctx())
    with pytest.raises(PolicyViolation) as err:  # the metric-comparison refusal
        lifecycle.promote(f"{world.name}:1.1.0", to="production", signer=world.signer("alice"), gate=gate, ctx=ctx())
    text = str(err.value)
    assert "candidate accuracy 0.91 (metadata" in text
    assert "production.accuracy is 0.93 (production evaluation" in text and v1.digest[:19] in text
    assert "needs >= 0.93 - 0.01 = 0.92" in text

    v3 = world.pack("1.2.0", accuracy=0.925)
    world.sign(v3)
    lifecycle.promote(f"{world.name}:1.2.0", to="staging", signer=world.signer("alice"), gate=gate, ctx=ctx())
    with pytest.raises(PolicyViolation, match="document validation-report"):
        lifecycle.promote(f"{world.name}:1.2.0", to="production", signer=world.signer("alice"), gate=gate, ctx=ctx())
    tracking.attach(f"{world.name}:1.2.0", doc, doc_type="validation-report", signer=world.signer("release"),
                    ctx=ctx())
    world.clock.tick()
    done = lifecycle.promote(f"{world.name}:1.2.0", to="production", signer=world.signer("alice"), gate=gate,
                             ctx=ctx())
    assert any(r.rule.startswith("metric accuracy >= production") and r.passed for r in done.decision.rules)
    # Without promoters for the baseline stage, what it holds cannot be verified: the comparison fails closed.
    unverifiable = world.gate(COMPARE.replace("    promoters: [{key: keys/alice.pub}]\n", ""))
    check = unverifiable.decide(world.target(), v3, world.name, "production",
                                StageContext(frozenset({"staging"}), world.signer("alice").description))
    [rule] = [r for r in check.rules if r.rule.startswith("metric accuracy >= production")]
    assert rule.passed is False and "names no promoters for production" in rule.reason

    rows = tracking.metrics(world.name, name="accuracy", verifier=world.verifier("release"), ctx=ctx())
    assert {(r.version, r.metric.phase, r.metric.value) for r in rows} >= {
        ("1.0.0", None, 0.95), ("1.0.0", "production", 0.93), ("1.1.0", None, 0.91), ("1.2.0", None, 0.925)}
    assert [r for r in rows if r.metric.phase == "production"][0].metric.time == "2026-03-08T00:00:00Z"
