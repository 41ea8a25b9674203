"""yamldoc: the one schema-driven YAML loader; every error names the source, the line and the key."""

from __future__ import annotations

import pytest

from modelcrate.errors import UsageError
from modelcrate.format import yamldoc

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "count": {"type": "integer", "minimum": 1},
        "entries": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "properties": {"tag": {"type": "string"}}}},
    },
}


def load(text: str) -> yamldoc.Document:
    return yamldoc.load_document(text, SCHEMA, source="f.yaml", error=UsageError)


def test_converts_and_remembers_lines() -> None:
    doc = load("name: 1.10\ncount: 2\nentries:\n  a: {tag: x}\n  b:\n    tag: 2025-01-01\n")
    assert doc.data == {"name": "1.10", "count": 2, "entries": {"a": {"tag": "x"}, "b": {"tag": "2025-01-01"}}}
    assert doc.line(["entries", "b", "tag"]) == 6
    assert doc.line(["entries", "missing"]) == 4  # the nearest existing ancestor
    assert str(doc.error(["count"], "too many")) == "f.yaml:2: count: too many"


@pytest.mark.parametrize("text, message", [
    ("name: a\ncolour: red\n", "f.yaml:2: unknown key 'colour'"),
    ("entries:\n  a: {tag: x, other: 1}\n", "f.yaml:2: unknown key 'entries.a.other'"),
    ("name: a\nname: b\n", "f.yaml:2: duplicate key 'name'"),
    ("count: 0\n", "f.yaml:1: count: 0 is less than the minimum of 1"),
    ("name: [x\n", "f.yaml:2: not valid YAML"),
    ("", "f.yaml: the file is empty"),
    ("- a\n", "f.yaml:1: expected a mapping of fields"),
    ("name:\n", "f.yaml:1: name: value is empty"),
    ("count: !!binary aGk=\n", "f.yaml:1: count: binary values are not allowed"),
    ("count: .nan\n", "f.yaml:1: count: NaN and infinity"),
    ("name: !!python/object/apply:os.system ['true']\n", "f.yaml:1: name"),
])
def test_one_error_line(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        load(text)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_alias_expansion_is_bounded() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join('*' + p for _ in range(10))}]\n" for p, c in zip("abcdef", "bcdefg"))
    with pytest.raises(UsageError, match="more than"):
        yamldoc.load_document(text, {"type": "object"}, source="f.yaml", error=UsageError)


def test_location_style_is_the_callers() -> None:
    with pytest.raises(UsageError, match=r"^f.yaml: line 2: unknown key 'x'$"):
        yamldoc.load_document("name: a\nx: 1\n", SCHEMA, source="f.yaml", error=UsageError,
                              locate=lambda s, n: f"{s}: line {n}")
