"""The --where language: precedence, operators, lists, missing fields, licence case, errors by column."""

from __future__ import annotations

import pytest

from modelcrate.index import expr, sql

RECORD = {"name": "bert-ft", "license": "MIT", "metrics": {"accuracy": 0.93, "f1": 0.8},
          "tags": ["nlp", "english"], "stages": ["production"], "size": 1200, "deprecated": False,
          "created": "2025-03-01T00:00:00Z", "lineage": {"base_model": "reg/base:1"}}


def ok(text: str, record: dict | None = None) -> bool:
    return sql.evaluate(expr.parse(text), RECORD if record is None else record)


@pytest.mark.parametrize("text,want", [
    ("metrics.accuracy >= 0.9", True),
    ("metrics.accuracy > 0.93", False),
    ("metrics.accuracy <= 0.93 and metrics.f1 < 0.81", True),
    ("metrics.accuracy = 0.93", True),
    ("metrics.accuracy != 0.93", False),
    ("license = 'mit'", True),            # SPDX identifiers ignore case
    ("license = \"MIT\"", True),
    ("license != 'apache-2.0'", True),
    ("name = 'BERT-FT'", False),           # other text fields do not
    ("name ~ 'BERT'", True),               # ~ / contains: substring, any case
    ("name contains 'ft'", True),
    ("tags = 'nlp'", True),                # a list holds when any element does
    ("tags != 'nlp'", False),              # ... and != means no element equals
    ("tags != 'french'", True),
    ("stages in ('staging', 'production')", True),
    ("license in ('Apache-2.0', 'BSD-3-Clause')", False),
    ("metrics.bleu > 0", False),           # a missing field compares false ...
    ("not metrics.bleu > 0", True),        # ... so NOT of it is true
    ("metrics.bleu", False),
    ("metrics.f1", True),                  # a bare field: present and not empty
    ("name = 3", False),                   # a string never equals a number
    ("size > '100'", False),
    ("deprecated = false", True),
    ("lineage.base_model = 'reg/base:1'", True),
    ("created >= '2025-02-01'", True),
    ("created = '2025-03-01T01:00:00+01:00'", True),     # dates compare as dates, date-only means midnight UTC
    ("created < '2025-03-01T00:00:00+00:00'", False),
    ("metrics.accuracy >= 0.9 and (license = 'apache-2.0' or license = 'mit')", True),
    ("metrics.accuracy >= 0.9 and license = 'apache-2.0' or license = 'mit'", True),
    ("metrics.accuracy >= 0.95 and (license = 'apache-2.0' or license = 'mit')", False),
    ("license = 'apache-2.0' or license = 'mit' and metrics.accuracy >= 0.95", False),  # AND binds tighter
    ("(license = 'apache-2.0' or license = 'mit') and metrics.accuracy >= 0.95", False),
    ("NOT (license = 'mit') OR size = 1200", True),
    ("not not license = 'mit'", True),
    ("size >= 1.2e3", True),
])
def test_evaluation(text: str, want: bool) -> None:
    assert ok(text) is want


@pytest.mark.parametrize("text,column,words", [
    ("metrics.accuracy >= ", 21, "expected a value after '>='"),
    ("license = mit", 11, "quote text"),
    ("(license = 'mit'", 17, "expected ')'"),
    ("license = 'mit' size > 1", 17, "expected AND, OR"),
    ("license = 'mit", 11, "unterminated string"),
    ("a & b", 3, "unexpected character '&'"),
    ("", 1, "empty expression"),
    ("and license = 'mit'", 1, "expected a field name"),
    ("license in 'mit'", 12, "expected '('"),
    ("license in ('mit' 'x')", 19, "expected ',' or ')'"),
])
def test_syntax_errors_name_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(expr.ExpressionError) as info:
        expr.parse(text)
    assert info.value.column == column
    message = info.value.diagnostics()
    assert f"column {column}" in message and words in message and "\n" not in message
    assert info.value.exit_code == 2


def test_hostile_expressions_are_bounded() -> None:
    with pytest.raises(expr.ExpressionError, match="nested deeper"):
        expr.parse("(" * 100 + "a" + ")" * 100)
    with pytest.raises(expr.ExpressionError, match="longer than"):
        expr.parse("a = 1 and " * 1000 + "a = 1")


def test_fields_of_lists_each_field_once() -> None:
    node = expr.parse("metrics.accuracy > 0.5 and (license = 'mit' or not metrics.accuracy < 0.2)")
    assert expr.fields_of(node) == ["metrics.accuracy", "license"]


def test_flag_nodes_and_edge_values() -> None:
    record = {**RECORD, "metrics": {"loss": 0}, "owners": [], "title": "Sentiment BERT"}
    assert sql.evaluate(expr.Glob("name", "bert-*"), record)
    assert not sql.evaluate(expr.Glob("name", "BERT-*"), record)          # globs are case-sensitive
    assert sql.evaluate(expr.Glob("name", "bert-[!x]t"), record)          # fnmatch's negation works
    assert sql.evaluate(expr.Words(("name", "title", "tags"), ("sentiment", "ENGLISH")), record)
    assert not sql.evaluate(expr.Words(("name", "title"), ("english",)), record)
    assert sql.evaluate(expr.parse("metrics.loss"), record)               # zero is a value, present
    assert not sql.evaluate(expr.parse("owners"), record)                 # an empty list is not
    assert sql.evaluate(expr.parse("metrics.loss = 0 and metrics.loss < 0.5"), record)
    assert sql.evaluate(expr.parse("missing = null and not missing != null"), record)
