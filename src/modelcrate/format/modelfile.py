"""modelcrate.yaml: the file a user writes to describe a model directory.

It holds the metadata fields of spec/metadata.schema.json at the top level plus ``files``, a list of rules
``{path, kind, archive}``. Parsing is schema-driven (:mod:`.yamldoc`) and keeps YAML line numbers, so
every error names the key and its line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import InvalidModelfile
from . import metadata as _metadata, schemas, yamldoc
from .mediatypes import KIND_ALIASES, KINDS

FILENAME = "modelcrate.yaml"
MAX_BYTES = yamldoc.MAX_BYTES

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
    doc = yamldoc.load_document(text, _schema(), source=source, error=InvalidModelfile, max_bytes=MAX_BYTES,
                                locate=_locate)
    data = dict(doc.data)
    files = []
    for i, raw in enumerate(data.pop("files")):
        kind = KIND_ALIASES.get(raw["kind"], raw["kind"])
        line = doc.line(["files", i])
        if kind not in KINDS:
            raise InvalidModelfile(f"{source}: line {line}: unknown kind {raw['kind']!r} "
                                   f"(one of: {', '.join(KINDS)}, or weights/config/docs/data)")
        files.append(FileRule(raw["path"], kind, bool(raw.get("archive", False)), line))
    if not files:
        raise InvalidModelfile(f"{source}: files is empty: list the files to pack")
    return Modelfile({"schema": _metadata.SCHEMA_ID, **data}, tuple(files))


def _locate(source: str, line: int) -> str:
    return f"{source}: line {line}"


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
