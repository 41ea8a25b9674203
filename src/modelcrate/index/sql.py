"""Evaluate ``--where`` trees inside SQLite, over an index of every field value.

Each model's fields are stored flattened, one row per value: ``(path, type, value)`` where ``path`` is the
dotted field name, ``type`` the JSON type (``text integer real true false null array object``) and list
elements share their list's path (with one more row of type ``array`` holding the length). Fields from
the manifest are keyed by digest (table ``fields``); fields that depend on where the manifest is tagged
(``source repository digest registry_tags stages deprecated deprecation``) by repository and digest
(table ``places``). A comparison is then one indexed ``EXISTS`` lookup, so only matching models reach
Python. The semantics are those documented in :mod:`.expr`. Literal values are always bound parameters.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from .expr import CASE_INSENSITIVE_FIELDS, DATE_FIELDS, And, Compare, Glob, Node, Not, Or, Words, normalize_date

PLACE_FIELDS = frozenset({"source", "repository", "digest", "registry_tags", "stages", "deprecated", "deprecation"})
MAX_ROWS = 20_000  # per manifest: the metadata is capped at 256 KiB, but a list of small numbers is long
MAX_DEPTH = 32  # levels of nesting searched into
_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
Sql = tuple[str, list[Any]]
_NEVER: Sql = ("0", [])


def flatten(value: Any, path: str = "", depth: int = 0) -> Iterator[tuple[str, str, Any]]:
    """``(path, type, value)`` rows for a JSON value: objects recurse (``a.b``), list elements take the
    list's path, containers also get a row holding their size. Below :data:`MAX_DEPTH` levels only the
    containers' rows are kept."""
    if isinstance(value, Mapping):
        if path:
            yield path, "object", len(value)
        if depth < MAX_DEPTH:
            for k, v in value.items():
                yield from flatten(v, f"{path}.{k}" if path else str(k), depth + 1)
    elif isinstance(value, list):
        yield path, "array", len(value)
        if depth < MAX_DEPTH:
            for v in value:
                yield from flatten(v, path, depth + 1)
    elif isinstance(value, bool):
        yield path, "true" if value else "false", int(value)
    elif isinstance(value, int):
        yield path, "integer", value
    elif isinstance(value, float):
        yield path, "real", value
    elif isinstance(value, str):
        yield path, "text", value
    else:
        yield path, "null", None


def _scalar(field: str, op: str, value: Any) -> Sql:
    """A condition on one row's ``type`` and ``value`` against a literal."""
    leaf = field.rsplit(".", 1)[-1]
    if op == "~":
        return ("(x.type = 'text' AND instr(lower(x.value), lower(?)) > 0)", [value]) if isinstance(value, str) \
            else _NEVER
    if op == "in":
        parts = [_scalar(field, "=", w) for w in value]
        return "(" + " OR ".join(p for p, _ in parts) + ")", [a for _, args in parts for a in args]
    sql_op = _OPS[op]
    if isinstance(value, bool):
        return f"(x.type IN ('true', 'false') AND x.value {sql_op} ?)", [int(value)]
    if isinstance(value, (int, float)):
        return f"(x.type IN ('integer', 'real') AND x.value {sql_op} ?)", [value]
    if leaf in DATE_FIELDS:
        date = normalize_date(value)
        return (f"(x.type = 'text' AND x.value {sql_op} ?)", [date]) if date else _NEVER
    if leaf in CASE_INSENSITIVE_FIELDS:
        return f"(x.type = 'text' AND lower(x.value) {sql_op} lower(?))", [value]
    return f"(x.type = 'text' AND x.value {sql_op} ?)", [value]


def _rows(field: str, condition: str) -> str:
    """``EXISTS`` over the rows of ``field`` for the model in the current row of ``g``."""
    if field.split(".", 1)[0] in PLACE_FIELDS:
        return ("EXISTS (SELECT 1 FROM places x WHERE x.source = g.source AND x.repository = g.repository "
                f"AND x.digest = g.digest AND x.path = ? AND {condition})")
    return f"EXISTS (SELECT 1 FROM fields x WHERE x.digest = g.digest AND x.path = ? AND {condition})"


_PRESENT = "x.type != 'null'"
_NONEMPTY = ("(CASE x.type WHEN 'array' THEN x.value > 0 WHEN 'object' THEN x.value > 0 "
             "WHEN 'text' THEN x.value != '' WHEN 'false' THEN 0 WHEN 'null' THEN 0 ELSE 1 END)")


def _compare(node: Compare) -> Sql:
    f = node.field
    if node.op == "exists":
        return _rows(f, _NONEMPTY), [f]
    if node.value is None:
        if node.op == "=":
            return f"NOT {_rows(f, _PRESENT)}", [f]
        return (_rows(f, _PRESENT), [f]) if node.op == "!=" else _NEVER
    if node.op == "!=":  # present, and no value (or list element) equals
        eq, args = _scalar(f, "=", node.value)
        return f"({_rows(f, _PRESENT)} AND NOT {_rows(f, eq)})", [f, f, *args]
    cond, args = _scalar(f, node.op, node.value)
    return _rows(f, cond), [f, *args]


def compile_node(node: Node) -> Sql:
    """SQL text and parameters testing the model in the current row of ``g`` against ``node``."""
    if isinstance(node, Compare):
        return _compare(node)
    if isinstance(node, (And, Or)):
        parts = [compile_node(p) for p in node.parts]
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(p for p, _ in parts) + ")", [a for _, args in parts for a in args]
    if isinstance(node, Not):
        inner, args = compile_node(node.inner)
        return f"(NOT {inner})", args
    if isinstance(node, Glob):
        # fnmatch's [!...] negation is [^...] in SQLite's GLOB
        return _rows(node.field, "x.type = 'text' AND x.value GLOB ?"), [node.field, node.pattern.replace("[!", "[^")]
    assert isinstance(node, Words)
    if not node.words:
        return "1", []
    parts = []
    for w in node.words:  # each word in one of the fields (any element of a list)
        ors = [(_rows(f, "x.type = 'text' AND instr(lower(x.value), lower(?)) > 0"), [f, w]) for f in node.fields]
        parts.append(("(" + " OR ".join(p for p, _ in ors) + ")", [a for _, args in ors for a in args]))
    return "(" + " AND ".join(p for p, _ in parts) + ")", [a for _, args in parts for a in args]


def order_by(field: str, descending: bool) -> Sql:
    """An ORDER BY key: the field's first scalar value; models without it last."""
    table = ("places x WHERE x.source = g.source AND x.repository = g.repository AND x.digest = g.digest"
             if field.split(".", 1)[0] in PLACE_FIELDS else "fields x WHERE x.digest = g.digest")
    key = f"(SELECT x.value FROM {table} AND x.path = ? AND x.type NOT IN ('array', 'object', 'null') LIMIT 1)"
    return f"{key} IS NULL, {key}{' DESC' if descending else ''}", [field, field]


SCHEMA = """
CREATE TABLE IF NOT EXISTS fields (digest TEXT NOT NULL, path TEXT NOT NULL, type TEXT NOT NULL, value);
CREATE INDEX IF NOT EXISTS fields_lookup ON fields (digest, path);
CREATE TABLE IF NOT EXISTS places (source TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL,
                                   path TEXT NOT NULL, type TEXT NOT NULL, value);
CREATE INDEX IF NOT EXISTS places_lookup ON places (source, repository, digest, path);
"""


def evaluate(node: Node, record: Mapping[str, Any]) -> bool:
    """Whether one record satisfies ``node``, evaluated by SQLite exactly as a search does."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SCHEMA)
        manifest = {k: v for k, v in record.items() if k not in PLACE_FIELDS}
        place = {k: v for k, v in record.items() if k in PLACE_FIELDS}
        conn.executemany("INSERT INTO fields VALUES ('d', ?, ?, ?)", list(flatten(manifest)))
        conn.executemany("INSERT INTO places VALUES ('s', 'r', 'd', ?, ?, ?)", list(flatten(place)))
        sql, args = compile_node(node)
        row = conn.execute(f"SELECT {sql} FROM (SELECT 's' AS source, 'r' AS repository, 'd' AS digest) g",
                           args).fetchone()
        return bool(row[0])
    finally:
        conn.close()


