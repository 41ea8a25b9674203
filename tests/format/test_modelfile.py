"""modelcrate.yaml parsing: schema-driven, with line numbers in every error."""

from __future__ import annotations

import pytest

from modelcrate.errors import InvalidModelfile
from modelcrate.format import modelfile
from modelcrate.format.metadata import SCHEMA_ID

BASE = "name: m\nversion: 1.0.0\nfiles:\n  - {path: a.bin, kind: weight}\n"


def test_minimal() -> None:
    mf = modelfile.parse(BASE)
    assert mf.metadata == {"schema": SCHEMA_ID, "name": "m", "version": "1.0.0"}
    assert [(f.path, f.kind, f.archive, f.line) for f in mf.files] == [("a.bin", "weight", False, 4)]


def test_string_fields_keep_their_literal_text() -> None:
    text = "name: m\nversion: 1.10\ncreated: 2025-01-01T00:00:00Z\nlicense: no\nfiles: [{path: a, kind: weight}]\n"
    meta = modelfile.parse(text).metadata
    assert meta["version"] == "1.10"
    assert meta["created"] == "2025-01-01T00:00:00Z"
    assert meta["license"] == "no"


def test_kind_aliases() -> None:
    mf = modelfile.parse("name: m\nversion: '1'\nfiles:\n  - {path: a, kind: weights}\n  - {path: b, kind: config}\n")
    assert [f.kind for f in mf.files] == ["weight", "weight.config"]


@pytest.mark.parametrize(
    "text, message",
    [
        (BASE + "colour: blue\n", "line 5: unknown key 'colour'"),
        (BASE.replace("version: 1.0.0\n", "version: 1.0.0\nlineage:\n  base: x\n"), "line 4: unknown key 'lineage.base'"),
        (BASE + "name: other\n", "line 5: duplicate key 'name'"),
        ("name: m\nfiles: [{path: a, kind: weight}]\n", "'version' is a required property"),
        ("name: [unclosed\n", "line 2: not valid YAML"),
        ("", "empty"),
        ("- a\n- b\n", "expected a mapping"),
        (BASE.replace("kind: weight", "kind: blob"), "line 4: unknown kind 'blob'"),
        (BASE + "metrics:\n  - {name: acc}\n", "line 6: metrics.0: 'value' is a required property"),
        (BASE + "created: yesterday\n", "created"),
        (BASE + "description:\n", "line 5: description: value is empty"),
        (BASE.replace("files:\n  - {path: a.bin, kind: weight}\n", "files: []\n"), "files is empty"),
        (BASE + "lineage: {datasets: [{name: d, digest: 'md5:x'}]}\n", "lineage.datasets.0.digest"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidModelfile, match=message.replace("[", r"\[").replace("(", r"\(")):
        modelfile.parse(text)


def test_yaml_tags_that_build_objects_are_refused() -> None:
    with pytest.raises(InvalidModelfile):
        modelfile.parse(BASE + "extra: !!python/object/apply:os.system ['true']\n")


@pytest.mark.parametrize(
    "path, kind",
    [("model.safetensors", "weight"), ("sub/x.gguf", "weight"), ("a.onnx", "weight"), ("w.bin", "weight"),
     ("m.pt", "weight"), ("m.pth", "weight"), ("m.h5", "weight"), ("m.keras", "weight"),
     ("config.json", "weight.config"), ("generation_config.json", "weight.config"),
     ("tokenizer.json", "weight.config"), ("tokenizer_config.json", "weight.config"),
     ("train.py", "code"), ("run.sh", "code"), ("README.md", "doc"), ("LICENSE", "doc"), ("NOTES.md", "doc"),
     ("data.csv", None)],
)
def test_init_classification(path: str, kind: str | None) -> None:
    assert modelfile.classify(path) == kind


def test_scaffold_parses_and_lists_unknown_files_as_comments() -> None:
    text = modelfile.scaffold("my model", ["a.safetensors", "config.json", "data.csv"])
    mf = modelfile.parse(text)
    assert mf.metadata["name"] == "my model"
    assert [(f.path, f.kind) for f in mf.files] == [("a.safetensors", "weight"), ("config.json", "weight.config")]
    assert "#  - {path: \"data.csv\"" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        ("training_parameters: {lr: .nan}\n", "NaN and infinity"),
        ("extra: {x: .inf}\n", "NaN and infinity"),
        ("extra: &a [*a]\n", "alias|deeply"),
        ("extra:\n  a: &a [1,1,1,1,1,1,1,1,1]\n  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
         "  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
         "  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
         "alias expansion"),
    ],
)
def test_hostile_yaml_values(extra: str, message: str) -> None:
    with pytest.raises(InvalidModelfile, match=message):
        modelfile.parse(BASE + extra)
