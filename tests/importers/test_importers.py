"""init and import on Hugging Face, MLflow, KitOps and modctl directories built from the documented fixtures."""

from __future__ import annotations

import json
import pickle
import shutil
import struct
from pathlib import Path

import pytest
import yaml

from modelcrate import api
from modelcrate.errors import AlreadyExists, UsageError
from modelcrate.format import modelfile
from modelcrate.importers import huggingface, kitops, mlflow, modctl
from modelcrate.importers.common import valid_fields

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "importers"


def safetensors(shape: list[int], dtype: str = "F32", width: int = 4) -> bytes:
    n = width
    for d in shape:
        n *= d
    header = json.dumps({"w": {"dtype": dtype, "shape": shape, "data_offsets": [0, n]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * n


def written(root: Path) -> tuple[dict, list[tuple[str, str]], str]:
    text = (root / "modelcrate.yaml").read_text()
    parsed = modelfile.parse(text)
    return parsed.metadata, [(f.path, f.kind) for f in parsed.files], text


@pytest.fixture
def hf_dir(tmp_path: Path) -> Path:
    root = tmp_path / "tiny-sentiment"
    shutil.copytree(FIXTURES / "huggingface", root)
    (root / "model.safetensors").write_bytes(safetensors([16, 16]))
    (root / "tokenizer.json").write_text("{}")
    (root / "chat_template.jinja").write_text("{{ messages }}")
    (root / "training_args.bin").write_bytes(pickle.dumps({"lr": 1e-4}, protocol=4))
    (root / "pytorch_model.bin").write_bytes(pickle.dumps({"w": [0.0]}, protocol=2))
    for i in range(30):
        (root / ".git" / "objects" / f"{i:02x}").mkdir(parents=True)
        (root / ".git" / "objects" / f"{i:02x}" / "abc").write_bytes(b"x")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    return root


def test_init_on_a_hugging_face_directory(hf_dir: Path, home: Path) -> None:
    result = api.init(hf_dir)
    meta, files, text = written(hf_dir)
    assert result.sources == ("huggingface",)
    assert meta["license"] == "Apache-2.0" and meta["pipeline_tag"] == "text-classification"
    assert meta["tags"] == ["text-classification", "sentiment"] and meta["framework"] == "transformers"
    assert meta["lineage"]["base_model"] == "distilbert/distilbert-base-uncased"
    assert meta["lineage"]["base_model_relation"] == "finetune"
    assert meta["lineage"]["datasets"] == [{"name": "stanfordnlp/imdb",
                                            "uri": "https://huggingface.co/datasets/stanfordnlp/imdb"}]
    assert meta["capabilities"] == {"languages": ["en", "fr"]}
    assert meta["architecture"] == "DistilBertForSequenceClassification" and meta["family"] == "distilbert"
    assert meta["precision"] == "float32"  # config.json says so; the header agrees
    assert meta["paramSize"] == "256" and meta["format"] == "safetensors"  # from the weight header
    assert meta["extra"] == {"context_length": 512}
    assert meta["description"].startswith("A small sentiment classifier")
    assert dict(files)["chat_template.jinja"] == "weight.config" and dict(files)["pytorch_model.bin"] == "weight"
    assert "training_args.bin" not in dict(files) and "training state" in text
    assert ".git" not in text and "__pycache__" not in text
    assert any("pytorch_model.bin may be a pickle" in n for n in result.notes)
    if pytest.importorskip("huggingface_hub"):
        assert meta["metrics"] == [{"name": "Accuracy", "value": 0.931, "dataset": "IMDB", "split": "test"},
                                   {"name": "f1", "value": 0.929, "dataset": "IMDB", "split": "test"}]


def test_pack_without_a_tag_uses_name_and_version(hf_dir: Path, home: Path) -> None:
    api.init(hf_dir)
    packed = api.pack(hf_dir)
    assert packed.reference == "tiny-sentiment:0.1.0"
    view = api.inspect("tiny-sentiment:0.1.0")
    assert view.metadata and view.metadata["paramSize"] == "256"


def test_init_never_overwrites_without_force(hf_dir: Path) -> None:
    api.init(hf_dir)
    with pytest.raises(AlreadyExists, match="exists") as err:
        api.init(hf_dir)
    assert "--force" in err.value.diagnostics()
    api.init(hf_dir, force=True, name="renamed")
    assert written(hf_dir)[0]["name"] == "renamed"


def test_model_index_without_huggingface_hub_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_hub(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("huggingface_hub"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    d = huggingface.from_card((FIXTURES / "huggingface" / "README.md").read_text())
    assert "metrics" not in d.metadata and any("install modelcrate[hf]" in n for n in d.notes)


@pytest.mark.parametrize("card, needle", [
    ("---\na: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n---\n",
     "alias expansion"),
    ("---\nlicense: [unclosed\n---\n", "README.md: line"),
    ("---\n!!python/object/apply:os.system ['true']\n---\n", "not valid YAML"),
])
def test_hostile_front_matter(card: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        huggingface.from_card(card)


def test_card_values_the_schema_refuses_are_left_out(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    (root / "README.md").write_text("---\nlicense: other\nlicense_name: my-license\nbase_model_relation: weird\n"
                                    "base_model: [a/b, c/d]\nlanguage: [en, multilingual]\npipeline_tag: " + "x" * 300
                                    + "\n---\n")
    result = api.init(root)
    meta, _files, _text = written(root)
    assert meta["pipeline_tag"] == "x" * 128 and meta["lineage"] == {"base_model": "a/b"} and "license" not in meta
    joined = " | ".join(result.notes)
    assert "not an SPDX id" in joined and "2 base models" in joined and "multilingual" in joined
    notes: list[str] = []
    assert valid_fields({"created": "yesterday", "license": "MIT"}, notes) == {"license": "MIT"}
    assert notes and notes[0].startswith("created: ")


def test_mlflow_directory(tmp_path: Path) -> None:
    root = tmp_path / "iris"
    shutil.copytree(FIXTURES / "mlflow", root)
    (root / "model.pkl").write_bytes(pickle.dumps({"coef": [1.0]}, protocol=4))
    for name in ("conda.yaml", "python_env.yaml", "requirements.txt"):
        (root / name).write_text("dependencies: []\n")
    (root / "input_example.json").write_text("{}")
    result = api.init(root)
    meta, files, _ = written(root)
    assert result.sources == ("mlflow",)
    assert meta["framework"] == "sklearn" and meta["lineage"] == {"training_run": "3f6e2d1c0b9a48f7a6e5d4c3b2a19080"}
    assert meta["created"] == "2024-05-01T12:30:45Z"
    ml = meta["extra"]["mlflow"]
    assert ml["model_id"] == "m-0123456789abcdef0123456789abcdef" and ml["flavors"] == ["python_function", "sklearn"]
    assert ml["framework_versions"] == {"python_version": "3.11.7", "sklearn_version": "1.5.1"}
    assert ml["mlflow_version"] == "2.16.0"
    assert ml["signature"]["outputs"] == [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]
    assert dict(files) == {"MLmodel": "weight.config", "conda.yaml": "code", "input_example.json": "doc",
                           "model.pkl": "weight", "python_env.yaml": "code", "requirements.txt": "code"}
    assert any("stores a pickle" in n for n in result.notes)


@pytest.fixture
def kit_dir(tmp_path: Path) -> Path:
    root = tmp_path / "kit"
    shutil.copytree(FIXTURES / "kitops", root)
    for rel, data in {"model/weights.safetensors": safetensors([4, 4], "F16", 2), "model/config.json": b"{}",
                      "adapters/lora.safetensors": safetensors([2, 4], "F16", 2), "src/train.py": b"print(1)\n",
                      "data/reviews.csv": b"text,label\n", "README.md": b"# kit\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_kitfile_directory(kit_dir: Path) -> None:
    result = api.init(kit_dir)
    meta, files, _ = written(kit_dir)
    assert result.sources == ("kitops",)
    assert (meta["name"], meta["version"], meta["license"], meta["framework"]) == (
        "sentiment-kit", "1.2.0", "Apache-2.0", "pytorch")
    assert meta["lineage"]["datasets"] == [{"name": "reviews"}, {"name": "remote"}]
    assert meta["extra"] == {"kitops_parameters": {"threshold": 0.5}}
    assert dict(files) == {"Kitfile": "doc", "README.md": "doc", "adapters/lora.safetensors": "weight",
                           "data/reviews.csv": "dataset", "model/config.json": "weight",
                           "model/weights.safetensors": "weight", "src/train.py": "code"}
    assert meta["paramSize"] == "24" and meta["precision"] == "float16"
    assert any("s3://bucket" in n for n in result.notes)


def test_our_kitfile_reading_agrees_with_the_kitops_package() -> None:
    kit = pytest.importorskip("kitops.modelkit.kitfile")
    theirs = kit.Kitfile(path=str(FIXTURES / "kitops" / "Kitfile"))
    d = kitops.from_kitfile((FIXTURES / "kitops" / "Kitfile").read_bytes())
    assert d.metadata["name"] == theirs.package.name and d.metadata["version"] == theirs.package.version
    assert d.metadata["framework"] == theirs.model.framework
    assert {p.removeprefix("./") for p in [theirs.model.path] + [c.path for c in theirs.code]} <= set(d.kinds)


def test_modctl_modelfile_directory(tmp_path: Path) -> None:
    root = tmp_path / "llama"
    shutil.copytree(FIXTURES / "modctl", root)
    (root / "model.safetensors").write_bytes(safetensors([8], "BF16", 2))
    (root / "config.json").write_text("{}")
    (root / "infer.py").write_text("")
    (root / "train.csv").write_text("a\n")
    (root / "NOTES.md").write_text("n\n")
    result = api.init(root)
    meta, files, _ = written(root)
    assert result.sources == ("modctl", "huggingface")  # config.json is there too
    assert {k: meta[k] for k in ("name", "architecture", "family", "format", "paramSize", "precision",
                                 "quantization")} == {
        "name": "tiny-llama", "architecture": "transformer", "family": "llama3", "format": "safetensors",
        "paramSize": "16", "precision": "bf16", "quantization": "awq"}  # the Modelfile wins over the header
    assert dict(files)["train.csv"] == "dataset" and dict(files)["infer.py"] == "code"
    assert modctl.from_modelfile("MODEL (a|b).bin\nBOGUS x\n").notes == [
        "Modelfile: line 1: '(a|b).bin' looks like a regular expression; write it as a glob",
        "Modelfile: line 2: unknown directive 'BOGUS'"]


def test_import_command(run_cli, hf_dir: Path, tmp_path: Path) -> None:
    r = run_cli("import", str(hf_dir / "README.md"))
    assert r.returncode == 0, r.stderr
    assert "from huggingface" in r.stderr and "from weight headers: format=safetensors" in r.stderr
    again = run_cli("import", str(hf_dir))
    assert again.returncode == 1 and "exists" in again.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("x")
    r = run_cli("import", str(plain))
    assert r.returncode == 2 and "holds no Hugging Face, MLflow, KitOps or modctl model" in r.stderr
    r = run_cli("import", str(plain), "--from", "mlflow")
    assert r.returncode == 2 and "looked for MLmodel" in r.stderr
    r = run_cli("pack", str(hf_dir), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"] == 6


def test_init_on_a_plain_directory_skips_git(run_cli, tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / ".git" / "refs").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "weights.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    r = run_cli("init", str(root))
    assert r.returncode == 0, r.stderr
    text = (root / "modelcrate.yaml").read_text()
    assert ".git" not in text and yaml.safe_load(text)["format"] == "gguf"


def test_mlflow_created_and_signature_parsing() -> None:
    d = mlflow.from_mlmodel("flavors: {pytorch: {pytorch_version: '2.3', data: data}}\nutc_time_created: nonsense\n"
                            "signature: {inputs: '[broken'}\n")
    assert "created" not in d.metadata and d.kinds["data"] == "weight"
    assert d.notes == ["MLmodel: signature inputs is not valid JSON"]


@pytest.mark.parametrize("cmd", ["import", "scan", "convert"])
def test_new_commands_have_help_with_an_example(run_cli, cmd: str) -> None:
    r = run_cli(cmd, "--help")
    assert r.returncode == 0 and "Example:" in r.stdout and f"modelcrate {cmd}" in r.stdout


def test_init_with_a_lying_weight_header_names_the_file(run_cli, tmp_path: Path) -> None:
    root = tmp_path / "lying"
    root.mkdir()
    (root / "model.safetensors").write_bytes(struct.pack("<Q", 2**60) + b"{}")
    r = run_cli("init", str(root))
    assert r.returncode == 1 and r.stderr.startswith("modelcrate: error: model.safetensors: safetensors header claims")
    assert len(r.stderr.strip().splitlines()) == 1 and not (root / "modelcrate.yaml").exists()
