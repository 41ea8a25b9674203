"""SLSA provenance from lineage, and the evaluation predicate."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from modelcrate.errors import UsageError
from modelcrate.signing import predicates as pr
from modelcrate.signing import statement as st

from .conftest import INTOTO, UTC

CASES = [c for c in json.loads((INTOTO / "cases" / "index.json").read_text())["cases"]
         if c["kind"] == "slsa-provenance-v1-predicate"]

LINEAGE = {
    "lineage": {
        "base_model": "registry.example.com/base/llm@sha256:" + "b" * 64,
        "base_model_relation": "finetune",
        "datasets": [
            {"name": "train", "uri": "s3://data/train", "digest": "sha256:" + "d" * 64},
            "hf://datasets/example/eval",
        ],
        "code": {"repository": "https://github.com/example/train", "commit": "c" * 40},
        "training_run": "https://ci.example/runs/77",
    }
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["file"])
def test_slsa_conformance_cases(case: dict) -> None:
    predicate = json.loads((INTOTO / "cases" / case["file"]).read_bytes())
    if case["expect_valid"]:
        pr.validate_slsa_provenance(predicate)
    else:
        with pytest.raises(st.InvalidStatement) as info:
            pr.validate_slsa_provenance(predicate)
        assert info.value.code == case["expected_error"]


def test_real_examples() -> None:
    pr.validate_slsa_provenance(json.loads((INTOTO / "examples" / "slsa-provenance-v1.predicate.sigstore-python.json").read_bytes()))
    workflow = json.loads((INTOTO / "examples" / "slsa-provenance-v1.statement.github-actions-workflow.json").read_bytes())
    pr.validate_slsa_provenance(workflow["predicate"])
    # A real signed statement without externalParameters: the strict check refuses it (see module docs).
    signed = json.loads((INTOTO / "examples" / "slsa-provenance-v1.statement.from-sigstore-dsse-bundle.json").read_bytes())
    with pytest.raises(st.InvalidStatement) as info:
        pr.validate_slsa_provenance(signed["predicate"])
    assert info.value.code == "ErrExternalParamsRequired"


def test_provenance_from_lineage() -> None:
    predicate = pr.slsa_provenance(
        LINEAGE,
        builder_id="https://ci.example/builder",
        build_type="https://modelcrate.dev/train/v1",
        external_parameters={"config": "train.yaml"},
        internal_parameters={"gpu": "a100"},
        started_on=dt.datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
        finished_on="2026-01-01T12:30:00Z",
        extra_dependencies=[{"uri": "pkg:pypi/torch@2.5.0"}],
    )
    assert predicate == {
        "buildDefinition": {
            "buildType": "https://modelcrate.dev/train/v1",
            "externalParameters": {"config": "train.yaml"},
            "internalParameters": {"gpu": "a100"},
            "resolvedDependencies": [
                {
                    "uri": "registry.example.com/base/llm@sha256:" + "b" * 64,
                    "digest": {"sha256": "b" * 64},
                    "annotations": {"role": "base_model", "relation": "finetune"},
                },
                {"name": "train", "uri": "s3://data/train", "digest": {"sha256": "d" * 64},
                 "annotations": {"role": "dataset"}},
                {"uri": "hf://datasets/example/eval", "annotations": {"role": "dataset"}},
                {"uri": "git+https://github.com/example/train", "digest": {"gitCommit": "c" * 40},
                 "annotations": {"role": "source"}},
                {"uri": "pkg:pypi/torch@2.5.0"},
            ],
        },
        "runDetails": {
            "builder": {"id": "https://ci.example/builder"},
            "metadata": {
                "invocationId": "https://ci.example/runs/77",
                "startedOn": "2026-01-01T10:00:00Z",
                "finishedOn": "2026-01-01T12:30:00Z",
            },
        },
    }
    pr.validate_slsa_provenance(predicate)
    data = st.build_statement([("m", {"sha256": "a" * 64})], "provenance", predicate)
    assert st.parse_statement(data).predicate == predicate


def test_provenance_minimal_and_invocation_override() -> None:
    predicate = pr.slsa_provenance(LINEAGE, builder_id="b", build_type="t", external_parameters={},
                                   invocation_id="run-1")
    assert predicate["runDetails"]["metadata"] == {"invocationId": "run-1"}
    bare = pr.slsa_provenance({}, builder_id="b", build_type="t", external_parameters={})
    assert "resolvedDependencies" not in bare["buildDefinition"]
    assert "metadata" not in bare["runDetails"]


@pytest.mark.parametrize(
    "metadata, kwargs, reason",
    [
        ({}, {"builder_id": ""}, "builder_id"),
        ({}, {"build_type": ""}, "build_type"),
        ({}, {"external_parameters": None}, "external_parameters"),
        ({"lineage": {"datasets": [{"name": "x"}]}}, {}, "needs a uri or a digest"),
        ({"lineage": {"datasets": [{"uri": "u", "digest": "md5:1"}]}}, {}, "sha256:<64 hex>"),
        ({"lineage": {"code": {"repository": "r", "commit": "abc"}}}, {}, "git commit"),
        ({"lineage": {"base_model": ""}}, {}, "base_model"),
        ({"lineage": "x"}, {}, "must be an object"),
        ({}, {"started_on": dt.datetime(2026, 1, 1)}, "timezone-aware"),
        ({}, {"started_on": "yesterday"}, "RFC 3339"),
        ({}, {"started_on": "2026-01-02T00:00:00Z", "finished_on": "2026-01-01T00:00:00Z"}, "before"),
        ({}, {"extra_dependencies": [{"name": "only-a-name"}]}, "uri, digest or content"),
    ],
)
def test_provenance_refuses(metadata: dict, kwargs: dict, reason: str) -> None:
    args = {"builder_id": "b", "build_type": "t", "external_parameters": {}} | kwargs
    with pytest.raises(UsageError, match=reason):
        pr.slsa_provenance(metadata, **args)


def test_timestamp_formats() -> None:
    assert pr.timestamp(dt.datetime(2026, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == "2025-12-31T23:00:00Z"
    assert pr.timestamp(dt.datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)) == "2026-01-01T00:00:00.25Z"


METRICS = [
    {"name": "accuracy", "value": 0.913, "dataset": "imagenet-1k", "split": "validation"},
    {"name": "loss", "value": 2, "dataset": "imagenet-1k"},
]
EVALUATOR = {"repository": "https://github.com/example/evals", "commit": "e" * 40, "command": "python eval.py"}


def test_evaluation_predicate() -> None:
    predicate = pr.evaluation(METRICS, evaluator=EVALUATOR, created=dt.datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert predicate == {"created": "2026-02-03T04:05:06Z", "metrics": METRICS, "evaluator": EVALUATOR}
    pr.validate_evaluation(predicate)
    data = st.build_statement([("m", {"sha256": "a" * 64})], "evaluation", predicate)
    assert data == st.build_statement([("m", {"sha256": "a" * 64})], st.EVALUATION_V1, dict(predicate))
    assert b'"created":"2026-02-03T04:05:06Z"' in data


@pytest.mark.parametrize(
    "metrics, evaluator, reason",
    [
        ([], None, "at least one metric"),
        ([{"name": "a", "value": True, "dataset": "d"}], None, "finite number"),
        ([{"name": "a", "value": float("inf"), "dataset": "d"}], None, "finite number"),
        ([{"name": "a", "value": "1", "dataset": "d"}], None, "finite number"),
        ([{"name": "a", "value": 1}], None, "dataset"),
        ([{"name": "a", "value": 1, "dataset": "d", "extra": 1}], None, "unknown fields"),
        (METRICS, {"repository": "r", "commit": "nothex", "command": "c"}, "git commit"),
        (METRICS, {"repository": "r", "commit": "e" * 40}, "command"),
    ],
)
def test_evaluation_refuses(metrics: list, evaluator: dict | None, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        pr.evaluation(metrics, evaluator=evaluator, created="2026-01-01T00:00:00Z")


def test_validate_evaluation_refuses() -> None:
    good = pr.evaluation(METRICS, created="2026-01-01T00:00:00Z")
    for bad in ([], {**good, "x": 1}, {"metrics": good["metrics"]}, {**good, "created": "today"}):
        with pytest.raises(st.InvalidStatement) as info:
            pr.validate_evaluation(bad)
        assert info.value.code == "ErrInvalidEvaluation"
