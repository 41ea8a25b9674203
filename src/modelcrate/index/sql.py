"""Evaluate ``--where`` trees inside SQLite: one compiled condition over each model's JSON record.

Each comparison reads its field with ``json_type``/``json_extract`` (or walks a list with ``json_each``),
so SQLite parses the stored JSON in C and only matching models reach Python. The semantics are those
documented in :mod:`.expr`: types must agree, a missing field compares false, a list holds when an
element does (``!=``: when none equals), ``license`` ignores case, ``created`` compares as a date.
Literal values are bound as parameters; JSON paths are inlined, and only from field names the
tokenizer accepted (checked again here).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from .expr import CASE_INSENSITIVE_FIELDS, DATE_FIELDS, FIELD, And, Compare, Glob, Node, Not, Or, Words, normalize_date

_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
Sql = tuple[str, list[Any]]
_NEVER: Sql = ("0", [])


def json_path(field: str) -> str:
    """``metrics.accuracy`` → ``'$."metrics"."accuracy"'`` as an SQL string literal."""
    if not FIELD.match(field):
        raise ValueError(f"not a field name: {field!r}")
    return "'$" + "".join(f'."{part}"' for part in field.split(".")) + "'"


def _scalar(field: str, op: str, value: Any, t: str, v: str) -> Sql:
    """One value with JSON type ``t`` and SQL value ``v`` against a literal."""
    leaf = field.rsplit(".", 1)[-1]
    if op == "~":
        return (f"({t} = 'text' AND instr(lower({v}), lower(?)) > 0)", [value]) if isinstance(value, str) else _NEVER
    if op == "in":
        parts = [_scalar(field, "=", w, t, v) for w in value]
        return "(" + " OR ".join(p for p, _ in parts) + ")", [a for _, args in parts for a in args]
    sql_op = _OPS[op]
    if value is None:
        return (f"({t} IS NULL OR {t} = 'null')", []) if op == "=" else _NEVER
    if isinstance(value, bool):
        return f"({t} IN ('true', 'false') AND ({t} = 'true') {sql_op} ?)", [int(value)]
    if isinstance(value, (int, float)):
        return f"({t} IN ('integer', 'real') AND {v} {sql_op} ?)", [value]
    if leaf in DATE_FIELDS:
        date = normalize_date(value)
        return (f"({t} = 'text' AND {v} {sql_op} ?)", [date]) if date else _NEVER
    if leaf in CASE_INSENSITIVE_FIELDS:
        return f"({t} = 'text' AND lower({v}) {sql_op} lower(?))", [value]
    return f"({t} = 'text' AND {v} {sql_op} ?)", [value]


def _compare(node: Compare, rec: str) -> Sql:
    path = json_path(node.field)
    t, v = f"json_type({rec}, {path})", f"json_extract({rec}, {path})"
    if node.op == "exists":
        return (f"(CASE {t} WHEN 'array' THEN json_array_length({rec}, {path}) > 0 WHEN 'object' THEN {v} != '{{}}' "
                f"WHEN 'text' THEN {v} != '' WHEN 'false' THEN 0 WHEN 'null' THEN 0 ELSE {t} IS NOT NULL END)"), []
    op = "=" if node.op == "!=" else node.op
    each, each_args = _scalar(node.field, op, node.value, "je.type", "je.value")
    one, one_args = _scalar(node.field, op, node.value, t, v)
    any_element = f"EXISTS (SELECT 1 FROM json_each({rec}, {path}) je WHERE {each})"
    if node.op == "!=":
        return (f"(CASE WHEN {t} = 'array' THEN NOT {any_element} "
                f"ELSE {t} IS NOT NULL AND {t} != 'null' AND NOT {one} END)", [*each_args, *one_args])
    return f"(CASE WHEN {t} = 'array' THEN {any_element} ELSE {one} END)", [*each_args, *one_args]


def _words(node: Words, rec: str) -> Sql:
    pieces = []
    for f in node.fields:
        path = json_path(f)
        pieces.append(f"coalesce(CASE json_type({rec}, {path}) WHEN 'array' THEN (SELECT group_concat(value, ' ') "
                      f"FROM json_each({rec}, {path})) WHEN 'text' THEN json_extract({rec}, {path}) END, '')")
    haystack = "lower(" + " || ' ' || ".join(pieces) + ")"
    if not node.words:
        return "1", []
    return "(" + " AND ".join(f"instr({haystack}, lower(?)) > 0" for _ in node.words) + ")", list(node.words)


def compile_node(node: Node, rec: str = "rec") -> Sql:
    """SQL text and parameters testing the JSON column ``rec`` against ``node``. Every leaf is 0 or 1,
    never NULL: SQL's three-valued logic would make ``NOT`` of a missing field unknown instead of true."""
    if isinstance(node, (Compare, Glob, Words)):
        sql, args = _leaf_sql(node, rec)
        return f"coalesce({sql}, 0)", args
    if isinstance(node, (And, Or)):
        parts = [compile_node(p, rec) for p in node.parts]
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(p for p, _ in parts) + ")", [a for _, args in parts for a in args]
    if isinstance(node, Not):
        inner, args = compile_node(node.inner, rec)
        return f"(NOT {inner})", args
    raise TypeError(f"not an expression node: {node!r}")


def _leaf_sql(node: Compare | Glob | Words, rec: str) -> Sql:
    if isinstance(node, Compare):
        return _compare(node, rec)
    if isinstance(node, Glob):
        path = json_path(node.field)
        # fnmatch's [!...] negation is [^...] in SQLite's GLOB
        return (f"(json_type({rec}, {path}) = 'text' AND json_extract({rec}, {path}) GLOB ?)",
                [node.pattern.replace("[!", "[^")])
    return _words(node, rec)


def evaluate(node: Node, record: Mapping[str, Any]) -> bool:
    """Whether one record satisfies ``node``, evaluated by SQLite exactly as a search does."""
    sql, args = compile_node(node, "rec")
    conn = sqlite3.connect(":memory:")
    try:
        row = conn.execute(f"WITH r(rec) AS (SELECT ?) SELECT {sql} FROM r", [json.dumps(record), *args]).fetchone()
        return bool(row[0])
    finally:
        conn.close()
