"""Policy checks over real signed records in the local store: signatures, attestations and approvals
written with real keys, gathered and verified, then evaluated rule by rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from modelcrate import api, governance, signatures
from modelcrate.content.layout import LocalRepository, LocalStore
from modelcrate.errors import UsageError
from modelcrate.format.descriptor import Descriptor
from modelcrate.policy import approvals as policy_approvals
from modelcrate.config import Config
from modelcrate.signing.approval import APPROVAL_V1, approval_predicate
from tests.support.artifacts import write_model

from .conftest import ISSUE_POLICY, People

T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
PROVENANCE = {"buildDefinition": {"buildType": "https://example.com/train/v1", "externalParameters": {}},
              "runDetails": {"builder": {"id": "https://ci.example.com"}}}
METRICS = "metrics: [{name: accuracy, value: 0.95, dataset: holdout}]\n"


@pytest.fixture
def pack(tmp_path: Path, home: Path) -> Callable[..., tuple[LocalRepository, Descriptor]]:
    def make(ref: str = "team/m:1.0", weights: bytes = b"weights " * 64,
             extra: str = METRICS) -> tuple[LocalRepository, Descriptor]:
        directory = write_model(tmp_path / ref.replace("/", "_").replace(":", "_"),
                                {"model.safetensors": weights}, extra=extra)
        result = api.pack(directory, ref, config=Config(home))
        return LocalStore(home).repository(api.parse_local(ref).name), result.descriptor

    return make


def decide(people: People, repo: LocalRepository, desc: Descriptor, who: str, *, decision: str = "approve",
           stage: str = "production", minutes: int = 0, comment: str | None = None) -> None:
    policy_approvals.record_decision(repo, desc, repo.name, people.signer(who), stage=stage, decision=decision,
                                     created=T0 + dt.timedelta(minutes=minutes), comment=comment)


def ready(people: People, repo: LocalRepository, desc: Descriptor, *, approvers: tuple[str, ...] = ("alice", "carol"),
          staging: bool = True) -> None:
    """Everything the production rules ask for: signed, attested, approved, in staging."""
    release = people.signer("release")
    signatures.sign(repo, desc, repo.name, release, created=T0, model_signing=False)
    signatures.attest(repo, desc, repo.name, release, "provenance", PROVENANCE, created=T0)
    for who in approvers:
        decide(people, repo, desc, who)
    if staging:
        repo.tag(desc, "staging")


def check(ref: str, policy: Path, people: People, *, promoter: str = "bob", **kwargs) -> governance.PolicyCheck:  # type: ignore[no-untyped-def]
    return governance.check_policy(ref, stage="production", policy=policy, promoter=people.identity(promoter),
                                   **kwargs)


def failures(result: governance.PolicyCheck) -> dict[str, str]:
    return {r.rule: r.reason for r in result.decision.failures}


def test_a_model_that_meets_every_rule(people: People, write_policy, pack) -> None:
    repo, desc = pack()
    ready(people, repo, desc)
    result = check("team/m:1.0", write_policy(ISSUE_POLICY), people)
    assert result.allowed, failures(result)
    by_rule = {r.rule: r for r in result.decision.results}
    assert by_rule["signatures"].reason == f"signed by {people.identity('release')}"
    assert len(by_rule["approvals 2"].evidence) == 2
    assert all(d.startswith("sha256:") for d in result.decision.evidence())
    assert by_rule["from staging"].reason == "the model is in staging"


@pytest.mark.parametrize(("replace", "by", "rule", "reason"), [
    ("from: [staging]", "from: [dev, staging]\n  dev: {}\n  x:\n    from: [dev]", None, None),
    ("{key: keys/release.pub}]", "{key: keys/dave.pub}]\n    attesters: [{key: keys/release.pub}]", "signatures",
     "no valid signature by key "),
    ("[https://slsa.dev/provenance/v1]", "[https://slsa.dev/provenance/v1, https://example.com/review/v1]",
     "attestation https://example.com/review/v1", "no verified https://example.com/review/v1 attestation"),
    ('"accuracy >= 0.92"', '"accuracy >= 0.99"', "metric accuracy >= 0.99", "accuracy is 0.95"),
    ('"accuracy >= 0.92"', '"latency_p95_ms < 40"', "metric latency_p95_ms < 40", "no latency_p95_ms value"),
    ("count: 2", "count: 3", "approvals 3", "2 of 3 approvals for production"),
    ("{key: keys/bob.pub}]", "{key: keys/carol.pub}]", "promoters", "may not promote into production"),
    ("[apache-2.0, mit]", "[mit]", "licenses", "license Apache-2.0 is not in the allow-list (mit)"),
])
def test_one_refusal_per_rule_with_real_records(people: People, write_policy, pack, replace: str, by: str,
                                                rule: str | None, reason: str | None) -> None:
    repo, desc = pack()
    ready(people, repo, desc)
    assert replace in ISSUE_POLICY
    result = check("team/m:1.0", write_policy(ISSUE_POLICY.replace(replace, by, 1)), people)
    if rule is None:  # the control: the same records pass an equivalent policy
        assert result.allowed, failures(result)
        return
    assert list(failures(result)) == [rule], failures(result)
    assert reason in failures(result)[rule]


def test_refused_when_not_in_the_predecessor_stage_or_deprecated(people: People, write_policy, pack) -> None:
    repo, desc = pack()
    ready(people, repo, desc, staging=False)
    policy = write_policy(ISSUE_POLICY)
    assert failures(check("team/m:1.0", policy, people)) == {
        "from staging": "the model must be in staging first; it is in no stage"}
    repo.tag(desc, "staging")
    assert check("team/m:1.0", policy, people).allowed
    assert "deprecated" in failures(check("team/m:1.0", policy, people, deprecated=True))


def test_signatures_by_a_stranger_and_unverifiable_approvals_do_not_count(people: People, write_policy,
                                                                          pack) -> None:
    repo, desc = pack()
    signatures.sign(repo, desc, repo.name, people.signer("dave"), created=T0, model_signing=False)
    signatures.attest(repo, desc, repo.name, people.signer("dave"), "provenance", PROVENANCE, created=T0)
    decide(people, repo, desc, "dave")
    decide(people, repo, desc, "alice")
    repo.tag(desc, "staging")
    found = failures(check("team/m:1.0", write_policy(ISSUE_POLICY), people))
    assert set(found) == {"signatures", "attestation https://slsa.dev/provenance/v1", "approvals 2"}
    assert found["approvals 2"].startswith("1 of 2 approvals")


def test_the_signer_approving_their_own_model(people: People, write_policy, pack) -> None:
    """release signs the model and is listed as an approver: its approval does not count."""
    repo, desc = pack()
    ready(people, repo, desc, approvers=("alice", "release"))
    policy = write_policy(ISSUE_POLICY.replace("keys/carol.pub]", "keys/release.pub]"))
    found = failures(check("team/m:1.0", policy, people))
    assert list(found) == ["approvals 2"]
    assert f"not counted: {people.identity('release')} signed the model" in found["approvals 2"]


def test_an_approval_for_another_digest_never_counts(people: People, write_policy, pack) -> None:
    repo, v1 = pack("team/m:1.0")
    _, v2 = pack("team/m:2.0", weights=b"other weights " * 64)
    ready(people, repo, v1)
    ready(people, repo, v2, approvers=("alice",))
    repo.tag(v2, "staging")
    policy = write_policy(ISSUE_POLICY)
    assert check("team/m:2.0", policy, people).decision.refused  # carol approved 1.0, not 2.0
    # A record attached to 2.0 whose signed predicate names 1.0's digest: verified, but about another model.
    predicate = approval_predicate(stage="production", decision="approve", subject_digest=v1.digest,
                                   actor="carol", time=T0)
    signatures.attach_record(repo, v2, repo.name, people.signer("carol"), APPROVAL_V1, predicate, created=T0)
    assert failures(check("team/m:2.0", policy, people))["approvals 2"].startswith("1 of 2 approvals")
    assert check("team/m:1.0@" + v1.digest, policy, people, current_stages=["staging"]).allowed


def test_an_approval_for_another_stage_never_counts(people: People, write_policy, pack) -> None:
    repo, desc = pack()
    ready(people, repo, desc, approvers=("alice",))
    decide(people, repo, desc, "carol", stage="staging")
    policy = write_policy(ISSUE_POLICY)
    assert failures(check("team/m:1.0", policy, people))["approvals 2"].startswith("1 of 2 approvals")
    decide(people, repo, desc, "carol")
    assert check("team/m:1.0", policy, people).allowed


def test_a_rejection_then_a_later_approval(people: People, write_policy, pack) -> None:
    repo, desc = pack()
    ready(people, repo, desc)  # alice and carol approved at T0
    decide(people, repo, desc, "carol", decision="reject", minutes=10, comment="bias audit failed")
    policy = write_policy(ISSUE_POLICY)
    found = failures(check("team/m:1.0", policy, people))
    assert set(found) == {"rejections", "approvals 2"}
    assert f"rejected by {people.identity('carol')}" in found["rejections"] and "bias audit failed" in found["rejections"]
    decide(people, repo, desc, "carol", minutes=5)  # an approval EARLIER than the rejection lifts nothing
    assert "rejections" in failures(check("team/m:1.0", policy, people))
    decide(people, repo, desc, "alice", minutes=20)  # nor does another identity's later approval
    assert "rejections" in failures(check("team/m:1.0", policy, people))
    decide(people, repo, desc, "carol", minutes=30, comment="re-audited")
    assert check("team/m:1.0", policy, people).allowed


def test_metrics_from_a_verified_evaluation_attestation(people: People, write_policy, pack) -> None:
    repo, desc = pack(extra="")  # no metrics in the metadata
    ready(people, repo, desc)
    policy = write_policy(ISSUE_POLICY)
    assert "no accuracy value" in failures(check("team/m:1.0", policy, people))["metric accuracy >= 0.92"]
    evaluation = {"created": "2026-05-01T09:00:00Z",
                  "metrics": [{"name": "accuracy", "value": 0.93, "dataset": "holdout"}]}
    signatures.attest(repo, desc, repo.name, people.signer("dave"), "evaluation", evaluation, created=T0)
    assert "metric accuracy >= 0.92" in failures(check("team/m:1.0", policy, people))  # dave is no attester
    signatures.attest(repo, desc, repo.name, people.signer("release"), "evaluation", evaluation, created=T0)
    result = check("team/m:1.0", policy, people)
    assert result.allowed, failures(result)


def test_approve_refuses_a_stage_the_policy_does_not_know(people: People, write_policy, pack) -> None:
    pack()
    with pytest.raises(UsageError, match="'qa' is not a stage of"):
        governance.approve("team/m:1.0", stage="qa", signer=people.signer("alice"), policy=write_policy(ISSUE_POLICY))
    with pytest.raises(UsageError, match="not a valid stage name"):
        governance.approve("team/m:1.0", stage="Prod", signer=people.signer("alice"))
    done = governance.approve("team/m:1.0", stage="production", signer=people.signer("alice"), comment="ok")
    assert done.signer == people.identity("alice") and done.decision == "approve"
    with pytest.raises(UsageError, match="is not a model"):  # e.g. the approval record itself
        governance.approve(f"team/m@{done.stored.descriptor.digest}", stage="production",
                           signer=people.signer("alice"))


def test_promoter_identity_of_a_signed_bundle(people: People, write_policy) -> None:
    from modelcrate.policy import load_policy_file
    from modelcrate.policy.evidence import promoter_identity
    from modelcrate.signing import statement

    rules = load_policy_file(write_policy(ISSUE_POLICY)).stage("production")
    data = statement.build_statement([("team/m", {"sha256": "ab" * 32})], "https://example.com/p/v1", {})
    assert promoter_identity(people.signer("bob").sign_statement(data), rules) == people.identity("bob")
    assert promoter_identity(people.signer("carol").sign_statement(data), rules) is None


@pytest.mark.parametrize(("identity", "counts"), [("CN=model signer", True), ("CN=someone else", False)])
def test_an_x509_approver_is_named_by_identity(people: People, write_policy, pack, identity: str,
                                               counts: bool) -> None:
    from tests.signing.conftest import make_pki
    from tests.sigops.conftest import cert_signer, pem

    now = dt.datetime.now(dt.UTC)  # certificate-backed bundles are checked at the time of verification
    pki = make_pki(leaf_not_before=now - dt.timedelta(days=1), leaf_not_after=now + dt.timedelta(days=1))
    (people.root / "root.pem").write_bytes(pem(pki.root))
    (people.root / "int.pem").write_bytes(pem(pki.intermediate))
    policy = write_policy(f"""\
stages:
  production:
    approvals:
      count: 2
      identities: [{{ca: root.pem, chain: int.pem, identity: "{identity}"}}, {{key: keys/bob.pub}}]
""")
    repo, desc = pack()
    policy_approvals.record_decision(repo, desc, repo.name, cert_signer(pki), stage="production",
                                     decision="approve", created=T0)
    decide(people, repo, desc, "bob")
    result = check("team/m:1.0", policy, people, promoter="alice")
    assert result.allowed is counts, failures(result)
    if not counts:
        assert any(f"certificate names CN=model signer, not {identity}" in n for n in result.notes), result.notes


def test_an_approver_who_signed_the_model_is_recognised_even_if_not_a_listed_signer(people: People, write_policy,
                                                                                    pack) -> None:
    """alice is no package signer in the policy, but she signed the model: her approval does not count."""
    repo, desc = pack()
    ready(people, repo, desc)  # release signed; alice and carol approved
    signatures.sign(repo, desc, repo.name, people.signer("alice"), created=T0, model_signing=False)
    found = failures(check("team/m:1.0", write_policy(ISSUE_POLICY), people))
    assert list(found) == ["approvals 2"]
    assert f"not counted: {people.identity('alice')} signed the model" in found["approvals 2"]


def test_a_malformed_approval_by_a_listed_approver_does_not_count(people: People, write_policy, pack) -> None:
    repo, desc = pack()
    ready(people, repo, desc, approvers=("alice",))
    bad = {**approval_predicate(stage="production", decision="approve", subject_digest=desc.digest, actor="carol",
                                time=T0), "decision": "approve!", "weight": 10}
    signatures.attach_record(repo, desc, repo.name, people.signer("carol"), APPROVAL_V1, bad, created=T0)
    result = check("team/m:1.0", write_policy(ISSUE_POLICY), people)
    assert failures(result)["approvals 2"].startswith("1 of 2 approvals")
    assert any("approval predicate has unknown fields: weight" in n for n in result.notes), result.notes
