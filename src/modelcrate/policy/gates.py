"""The two small languages a policy file holds: metric gates and SPDX licence expressions. Pure.

A metric gate is ``NAME OP NUMBER`` (``accuracy >= 0.92``, ``latency_p95_ms < 40``) with OP one of
``>= > <= < == !=``, or ``NAME OP STAGE.NAME [+|- NUMBER]`` (``accuracy >= production.accuracy - 0.01``),
which compares the candidate with the model that stage holds now. It is parsed by hand, never evaluated as code; a syntax error names the 1-based
column where it went wrong.

A licence expression (``MIT``, ``Apache-2.0 OR MIT``, ``(MIT AND BSD-3-Clause) WITH x``) is allowed when
every licence it obliges you to follow is on the allow-list: ``A OR B`` needs one side allowed, ``A AND B``
both. Identifiers compare case-insensitively, as SPDX says they do; ``WITH`` exceptions are part of the
identifier they modify (``apache-2.0 with llvm-exception`` must be listed as such).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from ..errors import UsageError

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_SPACE = re.compile(r"\s*")
MAX_GATE = 200


class GateSyntaxError(UsageError):
    """A metric gate or licence expression that does not parse; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column


@dataclass(frozen=True)
class MetricGate:
    """``metric OP threshold``, as written in ``text``; with ``baseline`` (a stage) the right-hand side is
    that stage's ``baseline_metric`` plus ``threshold`` (the offset)."""

    metric: str
    op: str
    threshold: float
    text: str = field(compare=False)
    baseline: str | None = None
    baseline_metric: str | None = None

    def holds(self, value: float, base: float = 0.0) -> bool:
        return _OPS[self.op](value, self.bound(base))

    def bound(self, base: float = 0.0) -> float:
        """The number the value is compared with (the baseline's value plus the offset)."""
        return base + self.threshold if self.baseline is not None else self.threshold


def parse_gate(text: str) -> MetricGate:
    """Parse ``NAME OP NUMBER``; :class:`GateSyntaxError` naming the column of the first bad character."""
    if len(text) > MAX_GATE:
        raise GateSyntaxError(f"longer than {MAX_GATE} characters", MAX_GATE + 1)
    pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    name = _NAME.match(text, pos)
    if name is None:
        raise GateSyntaxError("expected a metric name", pos + 1)
    pos = _SPACE.match(text, name.end()).end()  # type: ignore[union-attr]
    op = next((o for o in sorted(_OPS, key=len, reverse=True) if text.startswith(o, pos)), None)
    if op is None:
        raise GateSyntaxError("expected a comparison (>=, >, <=, <, ==, !=)", pos + 1)
    pos = _SPACE.match(text, pos + len(op)).end()  # type: ignore[union-attr]
    baseline = _BASELINE.match(text, pos)
    if baseline is not None:
        return _comparison(text, name.group(), op, baseline)
    threshold, pos = _number(text, pos)
    if pos != len(text):
        raise GateSyntaxError("unexpected text after the number", pos + 1)
    return MetricGate(name.group(), op, threshold, text.strip())


_BASELINE = re.compile(r"([a-z][a-z0-9-]{0,31})\.([A-Za-z_][A-Za-z0-9_\-/]*)")


def _number(text: str, pos: int) -> tuple[float, int]:
    number = _NUMBER.match(text, pos)
    if number is None:
        raise GateSyntaxError("expected a number or STAGE.METRIC", pos + 1)
    value = float(number.group())
    if not math.isfinite(value):
        raise GateSyntaxError("the number is out of range", pos + 1)
    return value, _SPACE.match(text, number.end()).end()  # type: ignore[union-attr]


def _comparison(text: str, metric: str, op: str, baseline: re.Match[str]) -> MetricGate:
    """``STAGE.METRIC [+|- NUMBER]`` after the comparison."""
    pos = _SPACE.match(text, baseline.end()).end()  # type: ignore[union-attr]
    offset = 0.0
    if pos < len(text):
        sign = text[pos]
        if sign not in "+-":
            raise GateSyntaxError("expected + or - after the baseline", pos + 1)
        pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text[pos:pos + 1] in ("+", "-"):
            raise GateSyntaxError("expected an unsigned number after + or -", pos + 1)
        offset, pos = _number(text, pos)
        offset = -offset if sign == "-" else offset
        if pos != len(text):
            raise GateSyntaxError("unexpected text after the offset", pos + 1)
    return MetricGate(metric, op, offset, text.strip(), baseline.group(1), baseline.group(2))


# --- SPDX licence expressions ----------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9.+\-:]+)")
MAX_LICENSE = 500


def license_allowed(expression: str, allowed: Collection[str]) -> bool:
    """Whether following ``expression`` only needs licences from ``allowed`` (case-insensitive)."""
    wanted = {a.casefold() for a in allowed}
    tokens = _tokens(expression)
    pos, ok = _or(tokens, 0, wanted)
    if pos != len(tokens):
        raise GateSyntaxError(f"unexpected {tokens[pos][0]!r}", tokens[pos][1])
    return ok


def _tokens(expression: str) -> list[tuple[str, int]]:
    if len(expression) > MAX_LICENSE:
        raise GateSyntaxError(f"longer than {MAX_LICENSE} characters", MAX_LICENSE + 1)
    out, pos = [], 0
    while expression[pos:].strip():
        match = _TOKEN.match(expression, pos)
        if match is None:
            raise GateSyntaxError("unexpected character", _SPACE.match(expression, pos).end() + 1)  # type: ignore[union-attr]
        out.append((match.group(1), match.start(1) + 1))
        pos = match.end()
    if not out:
        raise GateSyntaxError("empty licence expression", 1)
    return out


_Parse = Callable[[list[tuple[str, int]], int, set[str]], tuple[int, bool]]


def _or(tokens: list[tuple[str, int]], pos: int, wanted: set[str]) -> tuple[int, bool]:
    return _chain(tokens, pos, wanted, "OR", _and, any)


def _and(tokens: list[tuple[str, int]], pos: int, wanted: set[str]) -> tuple[int, bool]:
    return _chain(tokens, pos, wanted, "AND", _term, all)


def _chain(tokens: list[tuple[str, int]], pos: int, wanted: set[str], word: str, operand: _Parse,
           combine: Callable[[list[bool]], bool]) -> tuple[int, bool]:
    """``operand (word operand)*``; every operand is parsed, so a syntax error is never skipped."""
    pos, ok = operand(tokens, pos, wanted)
    results = [ok]
    while pos < len(tokens) and tokens[pos][0].upper() == word:
        pos, ok = operand(tokens, pos + 1, wanted)
        results.append(ok)
    return pos, combine(results)


def _end(tokens: list[tuple[str, int]]) -> int:
    return tokens[-1][1] + len(tokens[-1][0])


def _term(tokens: list[tuple[str, int]], pos: int, wanted: set[str]) -> tuple[int, bool]:
    if pos >= len(tokens):
        raise GateSyntaxError("expression ends early", _end(tokens))
    text, column = tokens[pos]
    if text == "(":
        pos, ok = _or(tokens, pos + 1, wanted)
        if pos >= len(tokens) or tokens[pos][0] != ")":
            raise GateSyntaxError("missing ')'", tokens[pos][1] if pos < len(tokens) else _end(tokens))
        return pos + 1, ok
    if text == ")" or text.upper() in ("AND", "OR", "WITH"):
        raise GateSyntaxError(f"expected a licence identifier, not {text!r}", column)
    ident, pos = text.casefold(), pos + 1
    if pos < len(tokens) and tokens[pos][0].upper() == "WITH":
        if pos + 1 >= len(tokens) or tokens[pos + 1][0] in "()":
            raise GateSyntaxError("expected an exception identifier after WITH", tokens[pos][1])
        ident, pos = f"{ident} with {tokens[pos + 1][0].casefold()}", pos + 2
    return pos, ident in wanted
