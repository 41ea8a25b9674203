"""The policy file: the documented example is accepted as written; a malformed file is one error line naming
the file, the line and the key; the pull/verify and stage sections share the file and the loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcrate import signatures
from modelcrate.errors import InvalidPolicy, UsageError
from modelcrate.policy import DEFAULT_STAGES, load_policy_file
from modelcrate.policy.load import schema

from .conftest import ISSUE_POLICY, People

SPEC = Path(__file__).resolve().parents[2] / "spec" / "policy.schema.json"


def test_the_documented_file_is_accepted_with_its_meanings(people: People, write_policy) -> None:
    policy = load_policy_file(write_policy(ISSUE_POLICY))
    assert policy.vocabulary == ("staging", "production")
    assert policy.stage("staging").signatures == () and policy.stage("dev") is None
    prod = policy.stage("production")
    assert prod.predecessors == ("staging",)
    assert [s.identity for s in prod.signatures] == [people.identity("release")]
    assert prod.attestations == ("https://slsa.dev/provenance/v1",)
    assert [(g.metric, g.op, g.threshold) for g in prod.metrics] == [("accuracy", ">=", 0.92)]
    assert prod.approvals is not None and prod.approvals.count == 2 and prod.approvals.distinct_from_signer
    assert [a.identity for a in prod.approvals.approvers] == [people.identity(n) for n in ("alice", "bob", "carol")]
    assert [p.identity for p in prod.promoters] == [people.identity("alice"), people.identity("bob")]
    assert prod.licenses == ("apache-2.0", "mit") and not prod.allow_deprecated
    assert policy.digest.startswith("sha256:") and len(policy.digest) == 71


def test_one_file_for_pull_and_stages(people: People, write_policy) -> None:
    path = write_policy("version: 1\nsigners: [{key: keys/release.pub}]\nrequire: {attestations: [provenance]}\n"
                        + ISSUE_POLICY)
    pull = signatures.load_policy(path)
    assert pull.attestations == ("https://slsa.dev/provenance/v1",)
    assert pull.signers.verifiers[0].description == people.identity("release")
    assert load_policy_file(path).stage("production") is not None


def test_without_stages_the_default_vocabulary_applies(write_policy) -> None:
    policy = load_policy_file(write_policy("signers: [{key: keys/release.pub}]\n"))
    assert policy.vocabulary == DEFAULT_STAGES and not policy.has_stages


def test_x509_and_keyless_identities(people: People, write_policy) -> None:
    from tests.signing.conftest import make_pki
    from tests.sigops.conftest import pem

    pki = make_pki()
    (people.root / "ca.pem").write_bytes(pem(pki.root))
    policy = load_policy_file(write_policy("""\
stages:
  production:
    approvals:
      count: 2
      identities:
        - {ca: ca.pem, identity: alice@bank.example}
        - {keyless: {identity: bob@bank.example, issuer: https://login.bank.example}}
"""))
    approvers = policy.stage("production").approvals.approvers
    assert [a.identity for a in approvers] == ["certificate alice@bank.example",
                                               "keyless bob@bank.example (https://login.bank.example)"]


@pytest.mark.parametrize(("line", "replace", "by", "message"), [
    (6, "    attestations:", "    colour: red\n    attestations:", "unknown key 'stages.production.colour'"),
    (4, "from: [staging]", "from: [qa]", "stages.production.from.0: unknown stage 'qa' (the stages are: staging, "
                                         "production)"),
    (4, "from: [staging]", "from: [production]", "stages.production.from.0: a stage cannot be its own predecessor"),
    (7, '"accuracy >= 0.92"', '"accuracy >= high"', "stages.production.metrics.0: 'accuracy >= high': column 13: "
                                                    "expected a number"),
    (7, '"accuracy >= 0.92"', '"import os"', "stages.production.metrics.0: 'import os': column 8: expected a "
                                             "comparison"),
    (8, "count: 2", "count: 4", "stages.production.approvals.count: needs 4 approvals but only 3 approvers"),
    (8, "count: 2", "count: two", "stages.production.approvals.count: 'two' is not of type 'integer'"),
    (8, "count: 2, ", "", "stages.production.approvals: 'count' is a required property"),
    (8, "keys/carol.pub]", "keys/alice.pub]", "stages.production.approvals.keys: ['keys/alice.pub', "
                                              "'keys/bob.pub', 'keys/alice.pub'] has non-unique elements"),
    (5, "keys/release.pub}", "keys/missing.pub}", "stages.production.signatures.0.key: cannot read"),
    (5, "{key: keys/release.pub}", "{ca: keys/release.pub}", "stages.production.signatures.0.ca: "),
    (10, "[apache-2.0, mit]", "[]", "stages.production.licenses: [] should be non-empty"),
    (9, "{key: keys/bob.pub}]", "{key: keys/bob.pub, ca: x}]", "stages.production.promoters.1: needs exactly one "
                                                               "of key, ca, keyless"),
    (3, "  production:", "  Production:", "stages.Production: is not a valid stage name"),
    (8, "distinct_from_signer: true", "distinct_from_signer: yes please", "stages.production.approvals."
                                                                          "distinct_from_signer: 'yes please' is "
                                                                          "not of type 'boolean'"),
    (6, "[https://slsa.dev/provenance/v1]", "[https://slsa.dev/provenance/v1", "not valid YAML"),
])
def test_malformed_policy_is_one_line_naming_file_line_and_key(write_policy, line: int, replace: str, by: str,
                                                               message: str) -> None:
    assert replace in ISSUE_POLICY
    path = write_policy(ISSUE_POLICY.replace(replace, by, 1))
    with pytest.raises(InvalidPolicy) as info:
        load_policy_file(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}:"), text
    assert message in text, text
    if "YAML" not in message:
        assert text.startswith(f"{path}:{line}: "), text
    assert info.value.exit_code == 2


def test_ca_in_a_stage_rule_must_name_the_identity(people: People, write_policy) -> None:
    from tests.signing.conftest import make_pki
    from tests.sigops.conftest import pem

    (people.root / "ca.pem").write_bytes(pem(make_pki().root))
    path = write_policy("stages:\n  production:\n    promoters:\n      - {ca: ca.pem}\n")
    with pytest.raises(InvalidPolicy, match=r":4: stages.production.promoters.0: an X.509 signer in a stage rule "
                                            r"needs identity"):
        load_policy_file(path)


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the policy"):
        load_policy_file(tmp_path / "absent.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(InvalidPolicy, match="empty.yaml: the file is empty"):
        load_policy_file(tmp_path / "empty.yaml")
    (tmp_path / "bare.yaml").write_text("{}\n")
    with pytest.raises(InvalidPolicy, match=r"bare.yaml:1: \(top level\): {} should be non-empty"):
        load_policy_file(tmp_path / "bare.yaml")


def test_the_spec_schema_is_the_shipped_schema() -> None:
    assert json.loads(SPEC.read_text()) == schema()
