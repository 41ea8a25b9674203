"""The ``--where`` expression language: parse once, evaluate against many model records.

Grammar (keywords are case-insensitive)::

    expr       := or
    or         := and ( OR and )*
    and        := not ( AND not )*
    not        := NOT not | primary
    primary    := '(' expr ')' | FIELD [ OP value ]
    OP         := = | == | != | < | <= | > | >= | ~ (contains, case-insensitive) | IN (value-list)
    value      := 'string' | "string" | number | true | false | null | '(' value, ... ')' after IN
    FIELD      := name ( '.' name )*          e.g. license, metrics.accuracy, lineage.base_model

A FIELD alone is true when the field is present and not empty (or false). A comparison with a missing
field is false (so ``NOT`` of it is true), and so is one between a number and a string. Where a field
holds a list (tags, stages, datasets) the comparison holds when it holds for any element, and ``!=``
when no element equals. ``license`` compares without regard to case, as SPDX identifiers do; ``created``
compares as a date. Syntax errors name the column (1-based). :mod:`.sql` evaluates the tree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import UsageError

Record = Mapping[str, Any]

CASE_INSENSITIVE_FIELDS = frozenset({"license"})
DATE_FIELDS = frozenset({"created"})
FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*\Z")  # what the tokenizer reads as a field
MAX_EXPRESSION = 4096
MAX_DEPTH = 64


class ExpressionError(UsageError):
    """A ``--where`` expression does not parse; the message names the column."""

    def __init__(self, message: str, column: int, text: str) -> None:
        super().__init__(f"bad --where expression at column {column}: {message}",
                         hint=f"near {text[max(0, column - 1):column + 19]!r}" if text[column - 1:].strip() else
                         "the expression ended early")
        self.column = column


# ---- tokens --------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op><=|>=|==|!=|<>|=|<|>|~)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<comma>,)
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*)
""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "contains"}


@dataclass(frozen=True)
class Token:
    kind: str  # num str op lp rp comma word kw end
    text: str
    column: int
    value: Any = None


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_EXPRESSION:
        raise ExpressionError(f"longer than {MAX_EXPRESSION} characters", MAX_EXPRESSION, text)
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            what = "unterminated string" if text[pos] in "'\"" else f"unexpected character {text[pos]!r}"
            raise ExpressionError(what, pos + 1, text)
        kind = m.lastgroup or ""
        tok = m.group()
        if kind == "num":
            out.append(Token("num", tok, pos + 1, float(tok) if any(c in tok for c in ".eE") else int(tok)))
        elif kind == "str":
            out.append(Token("str", tok, pos + 1, re.sub(r"\\(.)", r"\1", tok[1:-1])))
        elif kind == "word" and tok.lower() in _KEYWORDS:
            out.append(Token("kw", tok.lower(), pos + 1))
        elif kind != "ws":
            out.append(Token(kind, tok, pos + 1))
        pos = m.end()
    out.append(Token("end", "", len(text) + 1))
    return out


# ---- the tree ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # = != < <= > >= ~ in exists
    value: Any = None


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Glob:
    """``field`` matches a shell-style pattern (``bert-*``), case-sensitive; built from flags, not parsed."""

    field: str
    pattern: str


@dataclass(frozen=True)
class Words:
    """Every word appears, in any case, in one of ``fields`` (text or lists of text)."""

    fields: tuple[str, ...]
    words: tuple[str, ...]


Node = Compare | Not | And | Or | Glob | Words


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, message: str, tok: Token | None = None) -> ExpressionError:
        tok = tok or self.peek()
        return ExpressionError(message, tok.column, self.text)

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "kw" and tok.text == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.fail("empty expression")
        node = self.or_()
        if self.peek().kind != "end":
            raise self.fail(f"expected AND, OR or the end, found {self.peek().text!r}")
        return node

    def or_(self) -> Node:
        parts = [self.and_()]
        while self.keyword("or"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_(self) -> Node:
        parts = [self.not_()]
        while self.keyword("and"):
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_(self) -> Node:
        if self.keyword("not"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.fail(f"nested deeper than {MAX_DEPTH}")
            node = Not(self.not_())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "lp":
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.fail(f"nested deeper than {MAX_DEPTH}", tok)
            node = self.or_()
            if self.peek().kind != "rp":
                raise self.fail(f"expected ')' to close the '(' at column {tok.column}")
            self.take()
            self.depth -= 1
            return node
        if tok.kind != "word":
            raise self.fail("expected a field name such as license or metrics.accuracy"
                            if tok.kind != "end" else "expected a field name, found the end")
        self.take()
        field = tok.text
        op_tok = self.peek()
        if op_tok.kind == "op":
            self.take()
            op = {"==": "=", "<>": "!="}.get(op_tok.text, op_tok.text)
            return Compare(field, op, self.value(op_tok))
        if op_tok.kind == "kw" and op_tok.text == "contains":
            self.take()
            return Compare(field, "~", self.value(op_tok))
        if op_tok.kind == "kw" and op_tok.text == "in":
            self.take()
            return Compare(field, "in", self.value_list())
        return Compare(field, "exists")

    def value(self, after: Token) -> Any:
        tok = self.peek()
        if tok.kind in ("num", "str"):
            self.take()
            return tok.value
        if tok.kind == "kw" and tok.text in ("true", "false", "null"):
            self.take()
            return {"true": True, "false": False, "null": None}[tok.text]
        if tok.kind == "word":
            raise self.fail(f"expected a value after {after.text!r}; quote text: '{tok.text}'")
        raise self.fail(f"expected a value after {after.text!r}")

    def value_list(self) -> tuple[Any, ...]:
        if self.peek().kind != "lp":
            raise self.fail("expected '(' and a list of values after IN")
        open_tok = self.take()
        values = [self.value(open_tok)]
        while self.peek().kind == "comma":
            values.append(self.value(self.take()))
        if self.peek().kind != "rp":
            raise self.fail("expected ',' or ')' in the IN list")
        self.take()
        return tuple(values)


def parse(text: str) -> Node:
    """Parse a ``--where`` expression; raise :class:`ExpressionError` naming the column."""
    return _Parser(text).parse()


# ---- helpers -----------------------------------------------------------------------------------
def lookup(record: Record, field: str) -> Any:
    """The value at a dotted path (``metrics.accuracy``); None where any step is missing."""
    value: Any = record
    for part in field.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
        if value is None:
            return None
    return value


def normalize_date(value: Any) -> str | None:
    """RFC 3339 text (or a date alone: midnight UTC) as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, so that dates
    compare as text; None when it is not a date."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fields_of(node: Node) -> list[str]:
    """The fields an expression mentions, in order, once each (shown as the matched fields)."""
    out: list[str] = []

    def walk(n: Node) -> None:
        if isinstance(n, Compare):
            if n.field not in out:
                out.append(n.field)
        elif isinstance(n, Not):
            walk(n.inner)
        elif isinstance(n, (And, Or)):
            for p in n.parts:
                walk(p)

    walk(node)
    return out


def all_of(nodes: list[Node]) -> Node | None:
    """AND of ``nodes``; None when there are none (everything matches)."""
    return None if not nodes else nodes[0] if len(nodes) == 1 else And(tuple(nodes))
