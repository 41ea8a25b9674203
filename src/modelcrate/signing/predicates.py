"""Predicate builders and validators: SLSA Provenance v1 and modelcrate's evaluation predicate.

Builders are pure: every time and identifier comes in as an argument, and the result is a plain dict
that :func:`modelcrate.signing.statement.build_statement` serialises canonically.

SLSA provenance (https://slsa.dev/provenance/v1): ``resolvedDependencies`` are derived from the model's
``metadata["lineage"]`` (base model, datasets, source code), and the validator follows the reference Go
binding's ``Validate()``. Run it on predicates we build, not on third-party payloads we verified: real
signed provenance can omit fields the Go binding requires.

Example:

>>> pred = slsa_provenance({"lineage": {"code": {"repository": "https://git.example/m", "commit": "a" * 40}}},
...                        builder_id="https://ci.example/runner", build_type="https://modelcrate.dev/train/v1",
...                        external_parameters={})
>>> pred["buildDefinition"]["resolvedDependencies"][0]["digest"]
{'gitCommit': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from modelcrate.errors import SignatureError, UsageError
from modelcrate.signing.statement import InvalidStatement, validate_resource_descriptor

_OCI_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_PINNED_REF = re.compile(r"@sha256:([0-9a-f]{64})$")
_GIT_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


# Stage and environment names become tags and paths: lowercase, starting with a letter (so a stage never
# looks like a version), and short. Kind -> the longest name.
NAME_LENGTHS = {"stage": 32, "environment": 63}
_NAMES = {kind: re.compile(rf"[a-z][a-z0-9-]{{0,{n - 1}}}") for kind, n in NAME_LENGTHS.items()}


def check_name(kind: str, value: Any) -> str:
    """``value`` if it is a valid name of ``kind`` ("stage" or "environment"); UsageError otherwise."""
    if not isinstance(value, str) or not _NAMES[kind].fullmatch(value):
        raise UsageError(f"{kind} {str(value)[:80]!r} is not a valid {kind} name (lowercase letters, digits and "
                         f"'-', starting with a letter, at most {NAME_LENGTHS[kind]})")
    return value


def rebuilt(what: str, predicate: Any, build: Callable[..., dict[str, Any]], fields: Mapping[str, str]
            ) -> dict[str, Any]:
    """A verified ``what`` predicate checked by its own builder: an object holding only ``fields`` (JSON
    field -> the builder's argument), rebuilt from them; :class:`SignatureError` naming the bad field."""
    if not isinstance(predicate, Mapping):
        raise SignatureError(f"{what} predicate is not an object")
    unknown = set(predicate) - set(fields)
    if unknown:
        raise SignatureError(f"{what} predicate has unknown fields: {', '.join(sorted(map(str, unknown)))}")
    try:
        return build(**{arg: predicate.get(field) for field, arg in fields.items()})
    except UsageError as exc:
        raise SignatureError(f"{what} predicate: {exc}") from None


def timestamp(value: datetime | str) -> str:
    """Format a time the way SLSA and our predicates write it: RFC 3339, UTC, ``Z`` suffix.

    Naive datetimes are refused: a time without a zone is ambiguous.

    >>> timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    '2026-01-02T03:04:05Z'
    """
    if isinstance(value, str):
        if not _RFC3339_UTC.fullmatch(value):
            raise UsageError(f"time {value!r} is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)")
        return value
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise UsageError("times must be timezone-aware datetimes or RFC 3339 UTC strings")
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)  # Python 3.11 reads the "Z" suffix


# --- SLSA provenance -------------------------------------------------------------------------------


def _base_model_dependency(base_model: Any, relation: Any) -> dict[str, Any]:
    if not isinstance(base_model, str) or not base_model:
        raise UsageError("lineage.base_model must be a non-empty string")
    rd: dict[str, Any] = {"uri": base_model}
    pinned = _PINNED_REF.search(base_model)
    if pinned:
        # A digest-pinned reference is an immutable dependency: record the digest too.
        rd["digest"] = {"sha256": pinned.group(1)}
    annotations: dict[str, Any] = {"role": "base_model"}
    if relation is not None:
        if not isinstance(relation, str) or not relation:
            raise UsageError("lineage.base_model_relation must be a non-empty string")
        annotations["relation"] = relation
    rd["annotations"] = annotations
    return rd


def _dataset_dependency(dataset: Any) -> dict[str, Any]:
    if isinstance(dataset, str) and dataset:
        return {"uri": dataset, "annotations": {"role": "dataset"}}
    if not isinstance(dataset, Mapping):
        raise UsageError("each lineage dataset must be a string or an object with name, uri, digest")
    rd: dict[str, Any] = {}
    for key in ("name", "uri"):
        if dataset.get(key) is not None:
            if not isinstance(dataset[key], str) or not dataset[key]:
                raise UsageError(f"lineage dataset {key} must be a non-empty string")
            rd[key] = dataset[key]
    if dataset.get("digest") is not None:
        match = _OCI_DIGEST.fullmatch(dataset["digest"]) if isinstance(dataset["digest"], str) else None
        if match is None:
            raise UsageError(f"lineage dataset digest {dataset['digest']!r} is not sha256:<64 hex>")
        rd["digest"] = {"sha256": match.group(1)}
    if "uri" not in rd and "digest" not in rd:
        raise UsageError(f"lineage dataset {rd.get('name', '?')!r} needs a uri or a digest")
    rd["annotations"] = {"role": "dataset"}
    return rd


def _code_dependency(code: Any) -> dict[str, Any]:
    if not isinstance(code, Mapping):
        raise UsageError("lineage.code must be an object with repository and commit")
    repository, commit = code.get("repository"), code.get("commit")
    if not isinstance(repository, str) or not repository:
        raise UsageError("lineage.code.repository must be a non-empty string")
    if not isinstance(commit, str) or not _GIT_COMMIT.fullmatch(commit):
        raise UsageError("lineage.code.commit must be a full lowercase git commit hash")
    # SLSA's convention for source: a git+ URI and the commit as a gitCommit digest.
    uri = repository if repository.startswith("git+") else f"git+{repository}"
    return {"uri": uri, "digest": {"gitCommit": commit}, "annotations": {"role": "source"}}


def lineage_dependencies(metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Resource descriptors for ``metadata["lineage"]``: base model, then datasets, then source code.

    >>> lineage_dependencies({"lineage": {"datasets": ["hf://datasets/x"]}})
    [{'uri': 'hf://datasets/x', 'annotations': {'role': 'dataset'}}]
    """
    lineage = metadata.get("lineage") if isinstance(metadata, Mapping) else None
    if lineage is None:
        return []
    if not isinstance(lineage, Mapping):
        raise UsageError("metadata.lineage must be an object")
    deps: list[dict[str, Any]] = []
    if lineage.get("base_model") is not None:
        deps.append(_base_model_dependency(lineage["base_model"], lineage.get("base_model_relation")))
    datasets = lineage.get("datasets") or []
    if not isinstance(datasets, list):
        raise UsageError("metadata.lineage.datasets must be a list")
    deps.extend(_dataset_dependency(d) for d in datasets)
    if lineage.get("code") is not None:
        deps.append(_code_dependency(lineage["code"]))
    return deps


def slsa_provenance(
    metadata: Mapping[str, Any],
    *,
    builder_id: str,
    build_type: str,
    external_parameters: Mapping[str, Any],
    internal_parameters: Mapping[str, Any] | None = None,
    started_on: datetime | str | None = None,
    finished_on: datetime | str | None = None,
    invocation_id: str | None = None,
    extra_dependencies: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Build an SLSA Provenance v1 predicate for a model.

    ``resolvedDependencies`` = :func:`lineage_dependencies` of ``metadata`` followed by
    ``extra_dependencies``. ``invocation_id`` defaults to ``lineage.training_run``. The result passes
    :func:`validate_slsa_provenance`.

    >>> p = slsa_provenance({}, builder_id="b", build_type="t", external_parameters={"x": 1})
    >>> sorted(p), p["runDetails"]
    (['buildDefinition', 'runDetails'], {'builder': {'id': 'b'}})
    """
    for label, value in (("builder_id", builder_id), ("build_type", build_type)):
        if not isinstance(value, str) or not value:
            raise UsageError(f"{label} must be a non-empty string")
    if not isinstance(external_parameters, Mapping):
        raise UsageError("external_parameters must be an object")
    build_definition: dict[str, Any] = {"buildType": build_type, "externalParameters": dict(external_parameters)}
    if internal_parameters is not None:
        if not isinstance(internal_parameters, Mapping):
            raise UsageError("internal_parameters must be an object")
        build_definition["internalParameters"] = dict(internal_parameters)
    deps = lineage_dependencies(metadata) + [dict(d) for d in extra_dependencies]
    if deps:
        build_definition["resolvedDependencies"] = deps
    run_details: dict[str, Any] = {"builder": {"id": builder_id}}
    run_metadata = _run_metadata(metadata, invocation_id, started_on, finished_on)
    if run_metadata:
        run_details["metadata"] = run_metadata
    predicate = {"buildDefinition": build_definition, "runDetails": run_details}
    try:
        validate_slsa_provenance(predicate)
    except InvalidStatement as exc:
        raise UsageError(f"cannot build provenance: {exc}") from None
    return predicate


def _run_metadata(
    metadata: Mapping[str, Any],
    invocation_id: str | None,
    started_on: datetime | str | None,
    finished_on: datetime | str | None,
) -> dict[str, str]:
    lineage = metadata.get("lineage") if isinstance(metadata, Mapping) else None
    if invocation_id is None and isinstance(lineage, Mapping):
        invocation_id = lineage.get("training_run")
    out: dict[str, str] = {}
    if invocation_id is not None:
        if not isinstance(invocation_id, str) or not invocation_id:
            raise UsageError("invocation_id (or lineage.training_run) must be a non-empty string")
        out["invocationId"] = invocation_id
    if started_on is not None:
        out["startedOn"] = timestamp(started_on)
    if finished_on is not None:
        out["finishedOn"] = timestamp(finished_on)
    if "startedOn" in out and "finishedOn" in out and (
        _parse_timestamp(out["finishedOn"]) < _parse_timestamp(out["startedOn"])
    ):
        raise UsageError("finished_on is before started_on")
    return out


def _require_object(obj: Any, key: str, *, code: str, where: str) -> Mapping[str, Any]:
    # The Go binding treats a missing message and an empty one alike.
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if not isinstance(value, Mapping) or not value:
        raise InvalidStatement(f"{where} has no {key}", code=code)
    return value


def _validate_descriptors(items: Any, *, where: str) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        raise InvalidStatement(f"{where} is not a list", code="ErrRDRequiredField")
    for i, rd in enumerate(items):
        validate_resource_descriptor(rd, where=f"{where}[{i}]")


def validate_slsa_provenance(predicate: Any) -> None:
    """Check an SLSA Provenance v1 predicate; raises :class:`InvalidStatement` with the Go error name.

    >>> validate_slsa_provenance({"buildDefinition": {}, "runDetails": {}})
    Traceback (most recent call last):
    ...
    modelcrate.signing.statement.InvalidStatement: provenance has no buildDefinition
    """
    build = _require_object(predicate, "buildDefinition", code="ErrBuildDefinitionRequired", where="provenance")
    if not isinstance(build.get("buildType"), str) or not build["buildType"]:
        raise InvalidStatement("provenance buildDefinition has no buildType", code="ErrBuildTypeRequired")
    if not isinstance(build.get("externalParameters"), Mapping):
        raise InvalidStatement(
            "provenance buildDefinition has no externalParameters", code="ErrExternalParamsRequired"
        )
    if "internalParameters" in build and not isinstance(build["internalParameters"], Mapping):
        raise InvalidStatement("provenance internalParameters is not an object", code="ErrInternalParamsInvalid")
    _validate_descriptors(build.get("resolvedDependencies"), where="resolvedDependencies")
    run = _require_object(predicate, "runDetails", code="ErrRunDetailsRequired", where="provenance")
    builder = _require_object(run, "builder", code="ErrBuilderRequired", where="provenance runDetails")
    if not isinstance(builder.get("id"), str) or not builder["id"]:
        raise InvalidStatement("provenance builder has no id", code="ErrBuilderIdRequired")
    _validate_descriptors(builder.get("builderDependencies"), where="builderDependencies")
    _validate_descriptors(run.get("byproducts"), where="byproducts")
    run_metadata = run.get("metadata")
    if run_metadata is not None:
        if not isinstance(run_metadata, Mapping):
            raise InvalidStatement("provenance runDetails.metadata is not an object", code="ErrMetadataInvalid")
        for key in ("startedOn", "finishedOn"):
            if key in run_metadata and not (
                isinstance(run_metadata[key], str) and _RFC3339_UTC.fullmatch(run_metadata[key])
            ):
                raise InvalidStatement(f"provenance {key} is not an RFC 3339 UTC time", code="ErrInvalidTimestamp")


# --- evaluation ------------------------------------------------------------------------------------


def _metric(metric: Any, index: int) -> dict[str, Any]:
    if not isinstance(metric, Mapping):
        raise UsageError(f"metric {index} must be an object with name, value, dataset, split")
    unknown = set(metric) - {"name", "value", "dataset", "split"}
    if unknown:
        raise UsageError(f"metric {index} has unknown fields: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key in ("name", "dataset", "split"):
        value = metric.get(key)
        if value is None and key == "split":
            continue
        if not isinstance(value, str) or not value:
            raise UsageError(f"metric {index} needs a non-empty string {key}")
        out[key] = value
    value = metric.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"metric {out['name']!r} needs a finite number as value")
    out["value"] = value
    return out


def _evaluator(evaluator: Any) -> dict[str, str]:
    if not isinstance(evaluator, Mapping):
        raise UsageError("evaluator must be an object with repository, commit, command")
    unknown = set(evaluator) - {"repository", "commit", "command"}
    if unknown:
        raise UsageError(f"evaluator has unknown fields: {', '.join(sorted(unknown))}")
    out: dict[str, str] = {}
    for key in ("repository", "commit", "command"):
        value = evaluator.get(key)
        if not isinstance(value, str) or not value:
            raise UsageError(f"evaluator needs a non-empty string {key}")
        out[key] = value
    if not _GIT_COMMIT.fullmatch(out["commit"]):
        raise UsageError("evaluator commit must be a full lowercase git commit hash")
    return out


def evaluation(
    metrics: Sequence[Mapping[str, Any]],
    *,
    evaluator: Mapping[str, str] | None = None,
    created: datetime | str,
    phase: str | None = None,
    window: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build a modelcrate evaluation predicate (``https://modelcrate.dev/evaluation/v1``).

    Each metric is ``{"name", "value", "dataset", "split"?}`` with a finite number as value; order is
    kept. ``evaluator`` optionally names the code that produced the numbers. ``phase`` says when the
    numbers were measured (``pre-release``, or ``production`` for monitoring feedback after deployment)
    and ``window`` the period they cover (``{"start", "end"}``, RFC 3339 UTC).

    >>> evaluation([{"name": "accuracy", "value": 0.91, "dataset": "imagenet", "split": "val"}],
    ...            created="2026-01-01T00:00:00Z")["metrics"][0]["value"]
    0.91
    """
    if isinstance(metrics, (str, bytes)) or not isinstance(metrics, Sequence) or not metrics:
        raise UsageError("an evaluation needs at least one metric")
    predicate: dict[str, Any] = {
        "created": timestamp(created),
        "metrics": [_metric(m, i) for i, m in enumerate(metrics)],
    }
    if evaluator is not None:
        predicate["evaluator"] = _evaluator(evaluator)
    if phase is not None:
        if not isinstance(phase, str) or not _PHASE.fullmatch(phase):
            raise UsageError("phase must be a short lowercase word (e.g. pre-release, production)")
        predicate["phase"] = phase
    if window is not None:
        predicate["window"] = _window(window)
    return predicate


_PHASE = re.compile(r"[a-z][a-z0-9-]{0,31}")


def _window(window: Any) -> dict[str, str]:
    if not isinstance(window, Mapping) or set(window) != {"start", "end"}:
        raise UsageError("window must be an object with start and end")
    start, end = timestamp(window["start"]), timestamp(window["end"])
    if end < start:
        raise UsageError("window ends before it starts")
    return {"start": start, "end": end}


def validate_evaluation(predicate: Any) -> None:
    """Check an evaluation predicate; raises :class:`InvalidStatement` (code ``ErrInvalidEvaluation``).

    >>> validate_evaluation({"created": "2026-01-01T00:00:00Z", "metrics": []})
    Traceback (most recent call last):
    ...
    modelcrate.signing.statement.InvalidStatement: invalid evaluation predicate: an evaluation needs at least one metric
    """
    if not isinstance(predicate, Mapping):
        raise InvalidStatement("evaluation predicate is not an object", code="ErrInvalidEvaluation")
    unknown = set(predicate) - {"created", "metrics", "evaluator", "phase", "window"}
    try:
        if unknown:
            raise UsageError(f"unknown fields: {', '.join(sorted(unknown))}")
        if "created" not in predicate:
            raise UsageError("created is missing")
        metrics: Any = predicate.get("metrics")
        evaluation(metrics, evaluator=predicate.get("evaluator"), created=predicate["created"],
                   phase=predicate.get("phase"), window=predicate.get("window"))
    except UsageError as exc:
        raise InvalidStatement(f"invalid evaluation predicate: {exc}", code="ErrInvalidEvaluation") from None


__all__ = [
    "evaluation",
    "lineage_dependencies",
    "slsa_provenance",
    "timestamp",
    "validate_evaluation",
    "validate_slsa_provenance",
]
