"""Pure evaluation: every rule passes with its evidence or fails with a reason; separation of duties;
rejections and the approvals that lift them."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from modelcrate.policy import Approval, Attestation, Deprecation, Evidence, Metric, Signature, evaluate
from modelcrate.policy import load_policy_file
from modelcrate.policy.rules import PolicyFile
from modelcrate.signing.approval import parse_approval, approval_predicate

from .conftest import ISSUE_POLICY, People

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
PROVENANCE = "https://slsa.dev/provenance/v1"


@pytest.fixture
def policy(write_policy) -> PolicyFile:
    return load_policy_file(write_policy(ISSUE_POLICY))


def approval(people: People, who: str, *, decision: str = "approve", stage: str = "production",
             digest: str = DIGEST, minutes: int = 0, comment: str | None = None) -> Approval:
    fields = parse_approval(approval_predicate(stage=stage, decision=decision, subject_digest=digest,
                                               actor=people.identity(who), time=T0 + dt.timedelta(minutes=minutes),
                                               comment=comment))
    return Approval(fields, people.identity(who), f"sha256:{who}-{decision}-{stage}-{minutes}")


@pytest.fixture
def good(people: People) -> Evidence:
    """Evidence that meets every production rule, promoted by bob."""
    return Evidence(
        DIGEST, "production", frozenset({"staging"}),
        signatures=(Signature(people.identity("release"), "sha256:sig"),),
        attestations=(Attestation(PROVENANCE, people.identity("release"), "sha256:prov"),),
        approvals=(approval(people, "alice"), approval(people, "carol")),
        metrics=(Metric("accuracy", 0.95, DIGEST),),
        license="Apache-2.0", promoter=people.identity("bob"))


def by_rule(decision) -> dict[str, tuple[bool | None, str]]:  # type: ignore[no-untyped-def]
    return {r.rule: (r.passed, r.reason) for r in decision.results}


def test_everything_met(policy: PolicyFile, good: Evidence, people: People) -> None:
    decision = evaluate(policy, good)
    assert decision.allowed and not decision.refused, decision.failures
    assert [r.rule for r in decision.results] == [
        "deprecated", "from staging", "signatures", f"attestation {PROVENANCE}", "metric accuracy >= 0.92",
        "licenses", "rejections", "approvals 2", "promoters"]
    results = {r.rule: r for r in decision.results}
    assert results["signatures"].evidence == ("sha256:sig",)
    assert results[f"attestation {PROVENANCE}"].evidence == ("sha256:prov",)
    assert set(results["approvals 2"].evidence) == {a.digest for a in good.approvals}
    assert results["metric accuracy >= 0.92"].evidence == (DIGEST,)
    assert decision.policy_digest == policy.digest
    assert "sha256:sig" in decision.evidence() and decision.to_dict()["allowed"] is True


@pytest.mark.parametrize(("change", "rule", "reason"), [
    ({"current_stages": frozenset({"dev"})}, "from staging", "the model must be in staging first; it is in dev"),
    ({"current_stages": frozenset()}, "from staging", "it is in no stage"),
    ({"signatures": ()}, "signatures", "no valid signature by key "),
    ({"attestations": ()}, f"attestation {PROVENANCE}", f"no verified {PROVENANCE} attestation"),
    ({"metrics": (Metric("accuracy", 0.91, DIGEST),)}, "metric accuracy >= 0.92", "accuracy is 0.91"),
    ({"metrics": ()}, "metric accuracy >= 0.92", "no accuracy value"),
    ({"license": "GPL-3.0-only"}, "licenses", "license GPL-3.0-only is not in the allow-list (apache-2.0, mit)"),
    ({"license": None}, "licenses", "the metadata names no license"),
    ({"license": "MIT OR ("}, "licenses", "not an SPDX expression"),
    ({"deprecated": True}, "deprecated", "the model is deprecated"),
    ({"deprecated": Deprecation("superseded by 2.0", "sha256:dep", "team/m:2.0")}, "deprecated",
     "the model is deprecated: superseded by 2.0 (successor team/m:2.0)"),
])
def test_one_refusal_per_rule(policy: PolicyFile, good: Evidence, change: dict, rule: str, reason: str) -> None:
    decision = evaluate(policy, replace(good, **change))
    assert decision.refused and not decision.allowed
    assert [r.rule for r in decision.failures] == [rule]
    assert reason in by_rule(decision)[rule][1]


def test_too_few_approvals(policy: PolicyFile, good: Evidence, people: People) -> None:
    decision = evaluate(policy, replace(good, approvals=(approval(people, "alice"),)))
    assert by_rule(decision)["approvals 2"] == (False, f"1 of 2 approvals for production (by {people.identity('alice')})")


def test_promoter_not_allowed(policy: PolicyFile, good: Evidence, people: People) -> None:
    decision = evaluate(policy, replace(good, promoter=people.identity("carol"),
                                        approvals=(approval(people, "alice"), approval(people, "bob"))))
    assert [r.rule for r in decision.failures] == ["promoters"]
    assert "may not promote into production" in by_rule(decision)["promoters"][1]


def test_the_signer_approving_their_own_model_does_not_count(write_policy, good: Evidence, people: People) -> None:
    policy = load_policy_file(write_policy(ISSUE_POLICY.replace("keys/carol.pub]", "keys/release.pub]")))
    decision = evaluate(policy, replace(good, approvals=(approval(people, "alice"), approval(people, "release"))))
    passed, reason = by_rule(decision)["approvals 2"]
    assert passed is False and f"not counted: {people.identity('release')} signed the model" in reason
    relaxed = load_policy_file(write_policy(ISSUE_POLICY.replace("keys/carol.pub]", "keys/release.pub]")
                                            .replace("distinct_from_signer: true", "distinct_from_signer: false")))
    assert by_rule(evaluate(relaxed, replace(good, approvals=(approval(people, "alice"),
                                                              approval(people, "release")))))["approvals 2"][0]


def test_the_promoter_approving_does_not_count(policy: PolicyFile, good: Evidence, people: People) -> None:
    ev = replace(good, approvals=(approval(people, "alice"), approval(people, "bob")))
    passed, reason = by_rule(evaluate(policy, ev))["approvals 2"]
    assert passed is False and f"{people.identity('bob')} is the promoter" in reason


def test_one_identity_counts_once(policy: PolicyFile, good: Evidence, people: People) -> None:
    ev = replace(good, approvals=(approval(people, "alice"), approval(people, "alice", minutes=5)))
    assert by_rule(evaluate(policy, ev))["approvals 2"][0] is False


def test_approvals_for_another_stage_or_digest_never_count(policy: PolicyFile, good: Evidence,
                                                           people: People) -> None:
    ev = replace(good, approvals=(approval(people, "alice"), approval(people, "carol", stage="staging"),
                                  approval(people, "carol", digest=OTHER, minutes=1)))
    passed, reason = by_rule(evaluate(policy, ev))["approvals 2"]
    assert passed is False and reason.startswith("1 of 2 approvals")


def test_an_unlisted_approver_does_not_count(policy: PolicyFile, good: Evidence, people: People) -> None:
    ev = replace(good, approvals=(approval(people, "alice"), approval(people, "dave")))
    assert by_rule(evaluate(policy, ev))["approvals 2"][0] is False


def test_a_rejection_blocks_until_a_later_approval_by_the_same_identity(policy: PolicyFile, good: Evidence,
                                                                        people: People) -> None:
    rejected = approval(people, "carol", decision="reject", minutes=10, comment="bias audit failed")
    ev = replace(good, approvals=(approval(people, "alice"), approval(people, "carol"), rejected,
                                  approval(people, "dave", minutes=20)))
    decision = evaluate(policy, ev)
    passed, reason = by_rule(decision)["rejections"]
    assert passed is False and "bias audit failed" in reason and people.identity("carol") in reason
    assert {r.rule for r in decision.failures} == {"rejections", "approvals 2"}
    # an approval by someone else does not lift carol's rejection
    ev = replace(ev, approvals=(*ev.approvals, approval(people, "bob", minutes=30)))
    assert by_rule(evaluate(policy, ev))["rejections"][0] is False
    # carol approving LATER does
    lifted = replace(ev, approvals=(*ev.approvals, approval(people, "carol", minutes=11)),
                     promoter=people.identity("alice"))
    assert evaluate(policy, lifted).allowed


def test_a_rejection_at_the_same_time_as_an_approval_wins(policy: PolicyFile, good: Evidence, people: People) -> None:
    ev = replace(good, approvals=(approval(people, "alice"), approval(people, "carol"),
                                  approval(people, "carol", decision="reject")))
    assert by_rule(evaluate(policy, ev))["rejections"][0] is False


def test_a_rejection_for_another_stage_does_not_block(policy: PolicyFile, good: Evidence, people: People) -> None:
    ev = replace(good, approvals=(*good.approvals, approval(people, "carol", decision="reject", stage="staging",
                                                            minutes=5)))
    assert evaluate(policy, ev).allowed


def test_every_reported_metric_value_must_pass(policy: PolicyFile, good: Evidence) -> None:
    ev = replace(good, metrics=(Metric("accuracy", 0.95, DIGEST), Metric("accuracy", 0.90, "sha256:eval")))
    result = {r.rule: r for r in evaluate(policy, ev).results}["metric accuracy >= 0.92"]
    assert result.passed is False and result.reason == "accuracy is 0.9" and result.evidence == ("sha256:eval",)


def test_without_a_promoter_its_rules_are_not_checked(policy: PolicyFile, good: Evidence) -> None:
    decision = evaluate(policy, replace(good, promoter=None))
    assert by_rule(decision)["promoters"][0] is None and by_rule(decision)["approvals 2"][0] is None
    assert not decision.refused and not decision.allowed  # a promotion needs every rule to pass


def test_allow_deprecated(write_policy, good: Evidence) -> None:
    policy = load_policy_file(write_policy("stages:\n  archive: {allow_deprecated: true}\n"))
    assert evaluate(policy, replace(good, stage="archive", deprecated=True)).allowed
    strict = load_policy_file(write_policy("stages:\n  archive: {}\n"))
    assert evaluate(strict, replace(good, stage="archive", deprecated=True)).refused


def test_unknown_stage_and_no_policy(policy: PolicyFile, good: Evidence) -> None:
    decision = evaluate(policy, replace(good, stage="dev"))
    assert decision.refused and "'dev' is not a stage of" in decision.failures[0].reason
    free = evaluate(None, good)
    assert free.allowed and free.results[0].reason == "no policy: nothing is required"


def test_a_future_dated_approval_does_not_count_but_a_future_rejection_blocks(policy: PolicyFile, good: Evidence,
                                                                             people: People) -> None:
    now = T0 + dt.timedelta(minutes=1)
    future = replace(good, now=now, approvals=(approval(people, "alice"), approval(people, "carol", minutes=60)))
    assert by_rule(evaluate(policy, future))["approvals 2"][0] is False
    skewed = replace(future, approvals=(approval(people, "alice"), approval(people, "carol", minutes=5)))
    assert evaluate(policy, skewed).allowed  # within the allowed clock skew
    rejected = replace(good, now=now, approvals=(*good.approvals,
                                                approval(people, "carol", decision="reject", minutes=60)))
    assert by_rule(evaluate(policy, rejected))["rejections"][0] is False
