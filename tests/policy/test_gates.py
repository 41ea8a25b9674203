"""Metric gates and SPDX licence expressions: parsed by hand, errors name the column."""

from __future__ import annotations

import pytest

from modelcrate.policy.gates import GateSyntaxError, MetricGate, license_allowed, parse_gate


@pytest.mark.parametrize(("text", "gate"), [
    ("accuracy >= 0.92", ("accuracy", ">=", 0.92)),
    ("latency_p95_ms < 40", ("latency_p95_ms", "<", 40.0)),
    ("  f1>.5 ", ("f1", ">", 0.5)),
    ("eval/loss <= 1e-3", ("eval/loss", "<=", 0.001)),
    ("delta == -2", ("delta", "==", -2.0)),
    ("bias.gap != 0", ("bias.gap", "!=", 0.0)),
])
def test_gates_parse(text: str, gate: tuple[str, str, float]) -> None:
    parsed = parse_gate(text)
    assert (parsed.metric, parsed.op, parsed.threshold) == gate


@pytest.mark.parametrize(("text", "column", "what"), [
    ("", 1, "expected a metric name"),
    (">= 3", 1, "expected a metric name"),
    ("accuracy", 9, "expected a comparison"),
    ("accuracy => 0.9", 10, "expected a comparison"),
    ("accuracy >= ", 13, "expected a number"),
    ("accuracy >= high", 13, "expected a number"),
    ("accuracy >= 0.9 and x", 17, "unexpected text"),
    ("accuracy >= __import__('os')", 13, "expected a number"),
    ("accuracy >= 1e999", 13, "out of range"),
])
def test_gate_errors_name_the_column(text: str, column: int, what: str) -> None:
    with pytest.raises(GateSyntaxError) as info:
        parse_gate(text)
    assert info.value.column == column and what in str(info.value)
    assert str(info.value).startswith(f"column {column}: ")


@pytest.mark.parametrize(("op", "value", "holds"), [
    (">=", 0.92, True), (">=", 0.91, False), (">", 0.92, False), ("<", 0.93, False), ("<=", 0.92, True),
    ("==", 0.92, True), ("!=", 0.92, False),
])
def test_gate_comparisons(op: str, value: float, holds: bool) -> None:
    assert MetricGate("m", op, 0.92, "").holds(value) is holds


@pytest.mark.parametrize(("expression", "allowed"), [
    ("Apache-2.0", True),
    ("apache-2.0", True),
    ("MIT", True),
    ("GPL-3.0-only", False),
    ("MIT OR GPL-3.0-only", True),
    ("GPL-3.0-only OR MIT", True),
    ("MIT AND GPL-3.0-only", False),
    ("MIT AND Apache-2.0", True),
    ("(MIT AND GPL-3.0-only) OR Apache-2.0", True),
    ("MIT AND (GPL-3.0-only OR Apache-2.0)", True),
    ("Apache-2.0 WITH LLVM-exception", False),
])
def test_licences(expression: str, allowed: bool) -> None:
    assert license_allowed(expression, ["apache-2.0", "MIT"]) is allowed


def test_licence_exception_must_be_listed_as_such() -> None:
    assert license_allowed("Apache-2.0 WITH LLVM-exception", ["apache-2.0 with llvm-exception"])


@pytest.mark.parametrize(("expression", "column"), [("MIT OR", 7), ("(MIT", 5), ("MIT)", 4), ("AND MIT", 1),
                                                      ("MIT $ BSD", 5), ("", 1)])
def test_bad_licence_expressions(expression: str, column: int) -> None:
    with pytest.raises(GateSyntaxError) as info:
        license_allowed(expression, ["mit"])
    assert info.value.column == column
