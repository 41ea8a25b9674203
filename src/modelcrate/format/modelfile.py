"""modelcrate.yaml: the file a user writes to describe a model directory.

It holds the metadata fields of spec/metadata.schema.json at the top level plus ``files``, a list of rules
``{path, kind, archive}``. Parsing is schema-driven and keeps YAML line numbers, so every error names the
key and its line. String-typed fields keep their text exactly as written (``version: 1.10`` stays
"1.10", not the float 1.1), which YAML's own type guessing would lose.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import InvalidModelfile
from . import metadata as _metadata, schemas
from .mediatypes import KIND_ALIASES, KINDS

FILENAME = "modelcrate.yaml"
MAX_BYTES = 1024 * 1024
_MAX_NODES = 100_000

_FILES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["path", "kind"],
        "properties": {
            "path": {"type": "string"},
            "kind": {"type": "string"},
            "archive": {"type": "boolean"},
        },
    },
}


@dataclass(frozen=True)
class FileRule:
    """One ``files`` entry: a relative path, glob, or directory (``archive: true``) and its layer kind."""

    path: str
    kind: str
    archive: bool
    line: int


@dataclass(frozen=True)
class Modelfile:
    metadata: dict[str, Any]
    files: tuple[FileRule, ...]


def _schema() -> dict[str, Any]:
    base = schemas.load(_metadata.SCHEMA_FILE)
    props = {k: v for k, v in base["properties"].items() if k != "schema"}
    props["files"] = _FILES_SCHEMA
    return {**base, "properties": props, "required": ["name", "version", "files"]}


def parse(text: str | bytes, source: str = FILENAME) -> Modelfile:
    """Parse and validate modelcrate.yaml text; raise :class:`InvalidModelfile` naming the line."""
    if len(text) > MAX_BYTES:
        raise InvalidModelfile(f"{source}: larger than {MAX_BYTES} bytes")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise InvalidModelfile(f"{source}: {where}not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if node is None:
        raise InvalidModelfile(f"{source}: the file is empty")
    schema = _schema()
    try:
        data = _Converter(source, schema).convert(node, schema, "")
    except RecursionError:
        raise InvalidModelfile(f"{source}: nested too deeply (a recursive YAML alias?)") from None
    if not isinstance(data, dict):
        raise InvalidModelfile(f"{source}: line {node.start_mark.line + 1}: expected a mapping of fields")
    problems = schemas.validator(_metadata.SCHEMA_FILE).evolve(schema=schema).iter_errors(data)
    for err in sorted(problems, key=lambda e: list(e.absolute_path)):
        path = list(err.absolute_path)
        line = _line_of(node, path)
        where = ".".join(str(p) for p in path) or "(top level)"
        raise InvalidModelfile(f"{source}: line {line}: {where}: {err.message}")
    files = []
    for raw, item in zip(data.pop("files"), _seq(node, "files")):
        kind = KIND_ALIASES.get(raw["kind"], raw["kind"])
        line = item.start_mark.line + 1
        if kind not in KINDS:
            raise InvalidModelfile(f"{source}: line {line}: unknown kind {raw['kind']!r} "
                                   f"(one of: {', '.join(KINDS)}, or weights/config/docs/data)")
        files.append(FileRule(raw["path"], kind, bool(raw.get("archive", False)), line))
    if not files:
        raise InvalidModelfile(f"{source}: files is empty: list the files to pack")
    return Modelfile({"schema": _metadata.SCHEMA_ID, **data}, tuple(files))


def _seq(root: yaml.Node, key: str) -> list[yaml.Node]:
    for k, v in root.value:
        if k.value == key:
            return list(v.value)
    return []


def _line_of(node: yaml.Node, path: list[Any]) -> int:
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == step), node)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
    return node.start_mark.line + 1


class _Converter:
    """Builds plain Python data from YAML nodes, guided by the JSON Schema."""

    def __init__(self, source: str, root_schema: dict[str, Any]) -> None:
        self.source = source
        self.root = root_schema
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
        if self.visited > _MAX_NODES:  # aliases can expand a small file exponentially ("billion laughs")
            raise InvalidModelfile(f"{self.source}: line {line}: more than {_MAX_NODES} values (alias expansion?)")
        if isinstance(node, yaml.MappingNode):
            props = (schema or {}).get("properties", {})
            closed = schema is not None and schema.get("additionalProperties") is False
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    raise InvalidModelfile(f"{self.source}: line {knode.start_mark.line + 1}: keys must be strings")
                key = knode.value
                kline = knode.start_mark.line + 1
                name = f"{where}.{key}" if where else key
                if key in out:
                    raise InvalidModelfile(f"{self.source}: line {kline}: duplicate key {name!r}")
                if closed and key not in props:
                    raise InvalidModelfile(f"{self.source}: line {kline}: unknown key {name!r}")
                out[key] = self.convert(vnode, props.get(key) if schema is not None and key in props else None, name)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = (schema or {}).get("items")
            return [self.convert(n, items, f"{where}[{i}]") for i, n in enumerate(node.value)]
        if schema is not None and schema.get("type") == "string":
            if node.tag == "tag:yaml.org,2002:null" and node.value in ("", "~", "null", "Null", "NULL"):
                raise InvalidModelfile(f"{self.source}: line {line}: {where}: value is empty")
            return node.value  # the text as written: no float/date/bool guessing for string fields
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise InvalidModelfile(f"{self.source}: line {line}: {where}: {exc}") from None
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        if isinstance(value, bytes):
            raise InvalidModelfile(f"{self.source}: line {line}: {where}: binary values are not allowed")
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise InvalidModelfile(f"{self.source}: line {line}: {where}: NaN and infinity cannot be stored in JSON")
        return value


# -- modelcrate init ---------------------------------------------------------------------------------

_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # training state: pickles a server never needs (listed for the user to decide, not packed)
    ("", ("training_args.bin", "optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "rng_state*.pth",
          "trainer_state.json")),
    ("weight.config", ("*.safetensors.index.json", "*.bin.index.json", "MLmodel")),
    ("weight", ("*.safetensors", "*.gguf", "*.onnx", "*.bin", "*.pt", "*.pth", "*.h5", "*.keras", "*.ckpt")),
    ("weight.config", ("config.json", "generation_config.json", "tokenizer*", "special_tokens_map.json",
                       "added_tokens.json", "chat_template*", "*.tiktoken", "vocab.*", "merges.txt",
                       "preprocessor_config.json", "processor_config.json", "adapter_config.json")),
    ("code", ("*.py", "*.sh", "requirements.txt", "conda.yaml", "python_env.yaml")),
    ("doc", ("README*", "LICENSE*", "*.md", "Kitfile", "Modelfile", "input_example.json",
             "serving_input_example.json")),
)
SKIPPED_DIRS = (".git", ".cache", "__pycache__", ".ipynb_checkpoints", ".huggingface")
NOT_SERVED = "training state (a pickle a server does not need)"


def skipped(relpath: str) -> bool:
    """Files ``init`` never lists: inside .git/, .cache/, __pycache__/, or hidden."""
    return any(part in SKIPPED_DIRS or part.startswith(".") for part in relpath.split("/"))


def classify(relpath: str) -> str | None:
    """The layer kind ``modelcrate init`` gives a file, by its base name; None if unknown or not served."""
    from fnmatch import fnmatchcase

    base = relpath.rsplit("/", 1)[-1]
    for kind, patterns in _RULES:
        if any(fnmatchcase(base, p) for p in patterns):
            return kind or None
    return None


def not_served(relpath: str) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(relpath.rsplit("/", 1)[-1], p) for p in _RULES[0][1])


_TEMPLATE = (
    ("description", "description: A short description of the model."),
    ("license", "# license: Apache-2.0"),
    ("authors", "# authors: [\"you@example.com\"]"),
    ("framework", "# framework: pytorch"),
    ("format", "# format: safetensors"),
    ("pipeline_tag", "# pipeline_tag: text-classification"),
    ("lineage", "# lineage:\n#   base_model: example.com/models/base:1.0\n#   base_model_relation: finetune\n"
                "#   datasets: [{name: imdb, uri: https://example.com/imdb.parquet}]"),
    ("metrics", "# metrics: [{name: accuracy, value: 0.91, dataset: imdb, split: test}]"),
)


def scaffold(name: str, relpaths: list[str], metadata: dict[str, Any] | None = None,
             kinds: dict[str, str] | None = None, notes: tuple[str, ...] = ()) -> str:
    """The text of a new modelcrate.yaml for a directory holding ``relpaths`` (sorted POSIX paths).

    ``metadata`` (found in the directory's own files) is written out; fields it lacks get commented
    examples. ``kinds`` overrides :func:`classify` per path; ``notes`` (what could not be mapped) become
    comments at the top."""
    meta = {"name": name, "version": "0.1.0", **(metadata or {})}
    lines = ["# modelcrate.yaml: describes this model directory (spec: spec/modelfile.md)."]
    lines += [f"# {note}" for note in notes]
    lines.append(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100).rstrip())
    lines += [text for key, text in _TEMPLATE if key not in meta]
    lines.append("files:")
    unknown = []
    for rel in relpaths:
        kind = (kinds or {}).get(rel) or classify(rel)
        if kind is None:
            unknown.append(rel)
        else:
            lines.append(f"  - {{path: {_quote(rel)}, kind: {kind}}}")
    if unknown:
        lines.append("# Not classified; add the ones that belong to the model:")
        lines.extend(f"#  - {{path: {_quote(rel)}, kind: dataset}}" + (f"  # {NOT_SERVED}" if not_served(rel) else "")
                     for rel in unknown)
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return yaml.safe_dump(text, default_style='"', width=10_000).strip()
