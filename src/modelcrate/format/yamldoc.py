"""Schema-driven YAML loading that keeps line numbers, for every YAML file a user writes.

``load_document`` composes the YAML node tree (never constructing arbitrary objects), converts it to plain
JSON-like data guided by a JSON Schema, validates the result, and raises one error line naming the source,
the line and the key for the first problem. String-typed fields keep their text exactly as written
(``version: 1.10`` stays "1.10", not the float 1.1), which YAML's own type guessing would lose.

The returned :class:`Document` remembers the node tree, so callers that check more than the schema can say
(via :meth:`Document.error`) which line a semantic problem is on.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import ModelcrateError

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64  # nesting of sequences and mappings; far more than any modelcrate.yaml or policy needs
MAX_NUMBER_CHARS = 100  # one integer or float as written (int("9" * 100_000) is slow, or refused by Python)
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")

Path = Sequence[str | int]


def colon_location(source: str, line: int) -> str:
    """The default location prefix: ``SOURCE:LINE`` (what editors and CI annotations understand)."""
    return f"{source}:{line}"


@dataclass(frozen=True)
class Document:
    """Converted data plus the YAML node tree it came from."""

    data: Any
    source: str
    node: yaml.Node
    error_type: type[ModelcrateError]
    locate: Callable[[str, int], str]

    def line(self, path: Path) -> int:
        """The 1-based line of the value at ``path`` (the nearest existing ancestor if it is absent)."""
        return _line_of(self.node, path)

    def key_line(self, path: Path) -> int:
        """The line of the last key of ``path`` itself (a block mapping's value may start lines later)."""
        parent = _node_at(self.node, path[:-1])
        if isinstance(parent, yaml.MappingNode):
            for knode, _ in parent.value:
                if knode.value == path[-1]:
                    return knode.start_mark.line + 1
        return parent.start_mark.line + 1

    def error(self, path: Path, message: str, *, line: int | None = None) -> ModelcrateError:
        """An error for the value at ``path``: ``SOURCE:LINE: key: message``."""
        where = dotted(path) or "(top level)"
        at = self.line(path) if line is None else line
        return self.error_type(one_line(f"{self.locate(self.source, at)}: {where}: {message}"))


def one_line(text: str) -> str:
    """Keys and values quoted in messages come from the file: a quoted key may hold a line break."""
    return " ".join(text.splitlines())


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that stops at :data:`MAX_DEPTH` levels: in its scanner, whose bookkeeping grows with the
    depth on every token (50,000 ``[`` took seconds), and in its composer, which recurses per level."""

    _depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep(self.line + 1)
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_DEPTH:
            raise _TooDeep(self.line + 1)
        return super().add_indent(column)

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def dotted(path: Path) -> str:
    """``a.b.0.c``: the key path as the error messages spell it."""
    return ".".join(str(p) for p in path)


def load_document(text: str | bytes, schema: dict[str, Any], *, source: str, error: type[ModelcrateError],
                  max_bytes: int = MAX_BYTES,
                  locate: Callable[[str, int], str] = colon_location) -> Document:
    """Parse ``text`` as YAML, convert it guided by ``schema`` and validate it; raise ``error`` on the first
    problem, naming ``source``, the line and the key."""

    def fail(line: int | None, message: str) -> ModelcrateError:
        return error(one_line(f"{locate(source, line)}: {message}" if line is not None else f"{source}: {message}"))

    if len(text) > max_bytes:
        raise fail(None, f"larger than {max_bytes} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(None, f"is not UTF-8 text (byte {exc.start})") from None
    try:
        node = yaml.compose(text, Loader=_BoundedLoader)
    except _TooDeep as exc:
        raise fail(exc.line, f"nested more than {MAX_DEPTH} levels deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise fail(mark.line + 1 if mark is not None else None, f"not valid YAML: {problem}") from None
    if node is None:
        raise fail(None, "the file is empty")
    try:
        data = _Converter(schema, fail).convert(node, schema, "")
    except RecursionError:
        raise fail(None, "nested too deeply (a recursive YAML alias?)") from None
    if schema.get("type") == "object" and not isinstance(data, dict):
        raise fail(node.start_mark.line + 1, "expected a mapping of fields")
    doc = Document(data, source, node, error, locate)
    problems = _validator(schema).iter_errors(data)
    for err in sorted(problems, key=lambda e: [(isinstance(p, str), p) for p in e.absolute_path]):
        # A schema may word its own message ("errorMessage", as ajv-errors does): jsonschema's
        # text for oneOf/const failures quotes the whole value and says little.
        custom = err.schema.get("errorMessage") if isinstance(err.schema, dict) else None
        message = custom if isinstance(custom, str) else err.message
        path = list(err.absolute_path)
        if "propertyNames" in err.absolute_schema_path and isinstance(err.instance, str):
            path.append(err.instance)  # a bad key: point at the key, not at its mapping
            raise doc.error(path, message, line=doc.key_line(path))
        raise doc.error(path, message)
    return doc


def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator, FormatChecker  # imported on first use: it costs ~0.3 s

    # FormatChecker makes "date-time" binding (needs rfc3339-validator).
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _node_at(node: yaml.Node, path: Path) -> yaml.Node:
    """The node at ``path``, or its nearest existing ancestor."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == step), node)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
    return node


def _line_of(node: yaml.Node, path: Path) -> int:
    return _node_at(node, path).start_mark.line + 1


class _Converter:
    """Builds plain Python data from YAML nodes, guided by the JSON Schema."""

    def __init__(self, root_schema: dict[str, Any], fail: Callable[[int | None, str], ModelcrateError]) -> None:
        self.root = root_schema
        self.fail = fail
        self.constructor = yaml.SafeLoader("")
        self.visited = 0

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return self._resolve(self.root["$defs"][ref.split("/")[-1]])
        return schema

    def convert(self, node: yaml.Node, schema: dict[str, Any] | None, where: str) -> Any:
        schema = self._resolve(schema) if schema is not None else None
        line = node.start_mark.line + 1
        self.visited += 1
        if self.visited > MAX_NODES:  # aliases can expand a small file exponentially ("billion laughs")
            raise self.fail(line, f"more than {MAX_NODES} values (alias expansion?)")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, schema, where)
        if isinstance(node, yaml.SequenceNode):
            items = (schema or {}).get("items")
            return [self.convert(n, items, f"{where}.{i}" if where else str(i)) for i, n in enumerate(node.value)]
        if schema is not None and schema.get("type") == "string":
            if node.tag == "tag:yaml.org,2002:null" and node.value in ("", "~", "null", "Null", "NULL"):
                raise self.fail(line, f"{where}: value is empty")
            return node.value  # the text as written: no float/date/bool guessing for string fields
        return self._scalar(node, line, where)

    def _mapping(self, node: yaml.MappingNode, schema: dict[str, Any] | None, where: str) -> dict[str, Any]:
        props = (schema or {}).get("properties", {})
        patterns = (schema or {}).get("additionalProperties")
        closed = schema is not None and patterns is False
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise self.fail(knode.start_mark.line + 1, "keys must be strings")
            key = knode.value
            kline = knode.start_mark.line + 1
            name = f"{where}.{key}" if where else key
            if key in out:
                raise self.fail(kline, f"duplicate key {name!r}")
            if closed and key not in props:
                raise self.fail(kline, f"unknown key {name!r}")
            if key in props:
                sub = props[key]
            else:  # a map of named entries (e.g. stages) gives its values one schema
                sub = patterns if isinstance(patterns, dict) else None
            out[key] = self.convert(vnode, sub, name)
        return out

    def _scalar(self, node: yaml.Node, line: int, where: str) -> Any:
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            raise self.fail(line, f"{where}: a {len(node.value)}-character number (at most {MAX_NUMBER_CHARS} are accepted)")
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.fail(line, f"{where}: {exc}") from None
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        if isinstance(value, bytes):
            raise self.fail(line, f"{where}: binary values are not allowed")
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise self.fail(line, f"{where}: NaN and infinity cannot be stored in JSON")
        return value
