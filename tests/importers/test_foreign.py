"""KitOps ModelKits and legacy ModelPack artifacts, built by the tests in those tools' documented formats:
inspect, unpack (same safety rules), convert without changing a file byte, and through a real registry:
pull -o with the unsafe-pickle warning and refusal, and a signed scan attestation."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import re
from pathlib import Path

import pytest

from modelcrate import api
from modelcrate.content.layout import LocalStore
from modelcrate.errors import UnsafePath
from modelcrate.foreign import KITOPS_CONFIG
from modelcrate.format.descriptor import Descriptor, build_manifest
from modelcrate.format.mediatypes import (
    ANN_FILEPATH, LEGACY_ANN_FILEPATH, LEGACY_MODEL_ARTIFACT, LEGACY_MODEL_CONFIG, OCI_MANIFEST,
)
from modelcrate.importers.convert import convert
from modelcrate.scan import PREDICATE_TYPE
from tests.support.artifacts import link, reg, tar_bytes
from tests.support.registry import RegistryProcess

KITFILE = {"manifestVersion": "1.0.0",
           "package": {"name": "sentiment-kit", "version": "1.2.0", "authors": ["ML Team"], "license": "Apache-2.0"},
           "model": {"name": "clf", "path": "./model", "framework": "pytorch",
                     "parts": [{"path": "./adapters/lora.safetensors", "type": "lora"}]},
           "code": [{"path": "./src"}], "datasets": [{"name": "reviews", "path": "./data/reviews.csv"}],
           "docs": [{"path": "./README.md"}]}
FILES = {"model/weights.bin": b"\x00\x01weights", "model/config.json": b"{}",
         "adapters/lora.safetensors": b"lora-bytes", "src/train.py": b"print('train')\n",
         "data/reviews.csv": b"text,label\n", "README.md": b"# sentiment\n"}


_PATHS = {"model": "model", "modelpart": "adapters/lora.safetensors", "code": "src", "dataset": "data/reviews.csv",
          "docs": "README.md"}


def _compress(data: bytes, comp: str | None) -> bytes:
    if comp == "gzip":
        return gzip.compress(data, mtime=0)
    if comp == "zstd":
        zstandard = pytest.importorskip("zstandard")
        return zstandard.ZstdCompressor().compress(data)
    return data


def put_modelkit(target, layers: list[tuple[str, str | None, list[tuple[str, bytes]]]], *, tag: str = "v1",
                 annotate: bool = False, kitfile: dict | None = None) -> Descriptor:
    """A ModelKit as ``kit pack`` lays it out: the Kitfile as JSON config, one tar layer per Kitfile entry."""
    config = json.dumps(kitfile or KITFILE).encode()
    config_desc = Descriptor.of(KITOPS_CONFIG, config)
    target.push(config_desc, io.BytesIO(config))
    descs = []
    for layer_type, comp, members in layers:
        blob = _compress(tar_bytes([(reg(name) if isinstance(name, str) else name, data) for name, data in members]),
                         comp)
        media = f"application/vnd.kitops.modelkit.{layer_type}.v1.tar" + (f"+{comp}" if comp else "")
        real = Descriptor.of(media, blob)
        target.push(real, io.BytesIO(blob))
        path = _PATHS.get(layer_type, "x")
        descs.append(Descriptor(media, real.digest, real.size, {ANN_FILEPATH: path} if annotate else None))
    manifest = build_manifest(config_desc, descs)
    desc = Descriptor.of(OCI_MANIFEST, manifest)
    target.push(desc, io.BytesIO(manifest))
    target.tag(desc, tag)
    return desc


def standard_layers(extra_code: list[tuple[str, bytes]] = ()) -> list:
    return [("model", "gzip", [("model/config.json", FILES["model/config.json"]),
                               ("model/weights.bin", FILES["model/weights.bin"])]),
            ("modelpart", None, [("adapters/lora.safetensors", FILES["adapters/lora.safetensors"])]),
            ("code", None, [("src/train.py", FILES["src/train.py"]), *extra_code]),
            ("dataset", "zstd", [("data/reviews.csv", FILES["data/reviews.csv"])]),
            ("docs", None, [("README.md", FILES["README.md"])])]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def kit(store: LocalStore):
    repo = store.repository("kit")
    put_modelkit(repo, standard_layers())
    return repo


@pytest.mark.parametrize("annotate", [False, True])
def test_inspect_and_unpack_a_modelkit(store: LocalStore, tmp_path: Path, settings, annotate: bool) -> None:
    put_modelkit(store.repository("kit"), standard_layers(), annotate=annotate)
    view = api.inspect("kit:v1", config=settings)
    assert [(f.path, f.kind, f.format) for f in view.files] == [
        ("model", "weight", "tar+gzip"), ("adapters/lora.safetensors", "weight", "tar"), ("src", "code", "tar"),
        ("data/reviews.csv", "dataset", "tar+zstd"), ("README.md", "doc", "tar")]
    assert view.metadata and (view.metadata["name"], view.metadata["version"]) == ("sentiment-kit", "1.2.0")
    out = tmp_path / "out"
    api.unpack("kit:v1", out, config=settings)
    assert tree(out) == FILES


@pytest.mark.parametrize("member, error", [
    ((reg("../escape"), b"x"), "contains '..'"),
    ((link("src/evil", "/etc/passwd"), None), "a link or special file"),
    ((reg("model/sneaky.py"), b"x"), "outside its own path"),
    ((reg("/abs"), b"x"), "absolute path"),
])
def test_hostile_modelkit_layers_leave_nothing(store: LocalStore, tmp_path: Path, settings, member, error) -> None:
    layers = standard_layers()
    layers[2] = ("code", "gzip", [("src/train.py", b"ok"), member])
    put_modelkit(store.repository("bad"), layers)
    out = tmp_path / "out"
    with pytest.raises(UnsafePath, match=re.escape(error)):
        api.unpack("bad:v1", out, config=settings)
    assert not out.exists() or tree(out) == {}
    assert not (tmp_path / "escape").exists()


def test_convert_keeps_every_file_byte(kit, store: LocalStore, tmp_path: Path, settings) -> None:
    converted = convert("kit:v1", "converted:1.2.0", config=settings)
    assert converted.source_kind == "kitops" and converted.reference == "converted:1.2.0"
    view = api.inspect("converted:1.2.0", config=settings)
    assert view.manifest.artifact_type == "application/vnd.cncf.model.manifest.v1+json"
    by_path = {f.path: f for f in view.files}
    assert set(by_path) == set(FILES)
    for path, data in FILES.items():
        assert by_path[path].format == "raw"
        assert by_path[path].descriptor.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert by_path["src/train.py"].kind == "code" and by_path["data/reviews.csv"].kind == "dataset"
    assert view.metadata and view.metadata["name"] == "sentiment-kit" and view.metadata["license"] == "Apache-2.0"
    out = tmp_path / "out"
    api.unpack("converted:1.2.0", out, config=settings)
    assert tree(out) == FILES


def put_legacy(target) -> tuple[Descriptor, bytes]:
    config = json.dumps({"descriptor": {"name": "legacy-model", "version": "2.0", "licenses": ["MIT"]},
                         "config": {"format": "gguf", "paramSize": "8b", "quantization": "q4_k_m"},
                         "modelfs": {"type": "layers", "diffIds": []}}).encode()
    config_desc = Descriptor.of(LEGACY_MODEL_CONFIG, config)
    target.push(config_desc, io.BytesIO(config))
    data = b"GGUF" + b"\0" * 60
    layer = Descriptor.of("application/vnd.cnai.model.weight.v1.raw", data,
                          annotations={LEGACY_ANN_FILEPATH: "model.gguf"})
    target.push(layer, io.BytesIO(data))
    manifest = build_manifest(config_desc, [layer], artifact_type=LEGACY_MODEL_ARTIFACT)
    desc = Descriptor.of(OCI_MANIFEST, manifest)
    target.push(desc, io.BytesIO(manifest))
    target.tag(desc, "2.0")
    return layer, data


def test_legacy_modelpack_artifact(store: LocalStore, settings, tmp_path: Path) -> None:
    layer, data = put_legacy(store.repository("legacy"))
    view = api.inspect("legacy:2.0", config=settings)
    assert view.metadata and {k: view.metadata[k] for k in ("name", "version", "license", "format", "paramSize")} == {
        "name": "legacy-model", "version": "2.0", "license": "MIT", "format": "gguf", "paramSize": "8b"}
    converted = convert("legacy:2.0", "legacy-new:2.0", config=settings)
    assert converted.source_kind == "modelpack"
    [f] = api.inspect("legacy-new:2.0", config=settings).files
    assert (f.path, f.kind, f.descriptor.digest) == ("model.gguf", "weight", layer.digest)


def test_converting_a_modelcrate_model_is_refused(example: Path, settings) -> None:
    api.pack(example, "tiny:1", config=settings)
    with pytest.raises(Exception, match="already a modelcrate model"):
        convert("tiny:1", "tiny2:1", config=settings)


EVIL = pickle.dumps({"x": __import__("os").system}, protocol=4)  # imports os.system when loaded


@pytest.mark.registry
def test_modelkit_through_a_registry(registry: RegistryProcess, store: LocalStore, settings, run_cli,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put_modelkit(store.repository("kit"), standard_layers([("src/helper.pkl", EVIL)]))
    ref = f"{registry.host}/foreign/kit:v1"
    assert run_cli("copy", "kit:v1", ref).returncode == 0

    out = tmp_path / "out"
    r = run_cli("pull", ref, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "warning: src/helper.pkl is a pickle that imports posix.system" in r.stderr
    assert (out / "src" / "helper.pkl").read_bytes() == EVIL and (out / "data" / "reviews.csv").exists()

    refused = tmp_path / "refused"
    r = run_cli("pull", ref, "-o", str(refused), "--deny-unsafe-pickle")
    assert r.returncode == 6 and "deny_unsafe_pickle" in r.stderr and "nothing was written" in r.stderr
    assert not refused.exists() or tree(refused) == {}

    r = run_cli("pull", ref)  # into the local store: scanned there, after the copy
    assert r.returncode == 0 and "src/helper.pkl is a pickle that imports posix.system" in r.stderr
    r = run_cli("inspect", ref, "--json")
    assert json.loads(r.stdout)["metadata"]["name"] == "sentiment-kit"

    env = {"MODELCRATE_KEY_PASSWORD": "pw"}
    assert run_cli("keygen", "--output-key-prefix", str(tmp_path / "k"), env=env).returncode == 0
    r = run_cli("scan", ref, "--attest", "--key", str(tmp_path / "k.key"), "--json", env=env)
    assert r.returncode == 6, r.stderr
    result = json.loads(r.stdout)
    assert result["verdict"] == "unsafe" and result["attestation"]["predicateType"] == PREDICATE_TYPE
    assert [f["path"] for f in result["files"] if f["status"] == "unsafe"] == ["src/helper.pkl"]
    r = run_cli("verify-attestation", ref, "--type", PREDICATE_TYPE, "--key", str(tmp_path / "k.pub"), "--json")
    assert r.returncode == 0, r.stderr


def test_unpack_warns_and_refuses(store: LocalStore, run_cli, tmp_path: Path) -> None:
    put_modelkit(store.repository("kit"), standard_layers([("src/helper.pkl", EVIL)]))
    r = run_cli("unpack", "kit:v1", str(tmp_path / "a"))
    assert r.returncode == 0 and "src/helper.pkl is a pickle that imports posix.system" in r.stderr
    r = run_cli("unpack", "kit:v1", str(tmp_path / "b"), "--deny-unsafe-pickle")
    assert r.returncode == 6 and not (tmp_path / "b").exists()
    r = run_cli("scan", "kit:v1")
    assert r.returncode == 6 and "src/helper.pkl" in r.stdout and "unsafe" in r.stderr
    r = run_cli("scan", str(tmp_path / "a"), "--json")
    assert r.returncode == 6 and json.loads(r.stdout)["summary"]["unsafe"] == 1
    r = run_cli("scan", str(tmp_path / "a" / "src" / "helper.pkl"))
    assert r.returncode == 6 and "posix.system" in r.stdout
    r = run_cli("scan", str(tmp_path / "a" / "src" / "helper.pkl"), "--attest", "--key",
                str(tmp_path / "a" / "README.md"))
    assert r.returncode == 2 and "needs a model reference" in r.stderr
    (tmp_path / "a" / "src" / "helper.pkl").unlink()
    r = run_cli("scan", str(tmp_path / "a"))
    assert r.returncode == 0 and "clean" in r.stderr


def test_import_an_artifact_into_a_directory(kit, run_cli, tmp_path: Path) -> None:
    out = tmp_path / "sentiment"
    r = run_cli("import", "kit:v1", str(out))
    assert r.returncode == 0 and "from kitops artifact kit:v1" in r.stderr, r.stderr
    files = {p: data for p, data in tree(out).items() if p != "modelcrate.yaml"}
    assert files == FILES
    again = run_cli("import", "kit:v1", str(out))
    assert again.returncode == 1 and "exists" in again.stderr
    r = run_cli("pack", str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reference"] == "sentiment-kit:1.2.0"
    r = run_cli("import", "no-such-thing:1")
    assert r.returncode == 2 and "neither a path" in r.stderr


def test_hostile_modelkit_manifests(store: LocalStore, settings, tmp_path: Path, monkeypatch) -> None:
    repo = store.repository("odd")
    put_modelkit(repo, [("weights", None, [("w.bin", b"x")])], tag="badtype")
    with pytest.raises(Exception, match="not a ModelKit layer type"):
        api.inspect("odd:badtype", config=settings)
    config = b"{not json"
    config_desc = Descriptor.of(KITOPS_CONFIG, config)
    repo.push(config_desc, io.BytesIO(config))
    manifest = build_manifest(config_desc, [])
    desc = Descriptor.of(OCI_MANIFEST, manifest)
    repo.push(desc, io.BytesIO(manifest))
    repo.tag(desc, "badconfig")
    with pytest.raises(Exception, match="ModelKit config is not valid JSON"):
        api.inspect("odd:badconfig", config=settings)
    # a Kitfile naming a path outside the directory: the layer's members are still confined
    put_modelkit(repo, [("code", None, [("src/a.py", b"x")])], tag="escape",
                 kitfile={**KITFILE, "model": {}, "code": [{"path": "../../etc"}]})
    with pytest.raises(UnsafePath, match="contains '..'"):
        api.unpack("odd:escape", tmp_path / "out", config=settings)
    assert not (tmp_path / "out").exists()


def test_zstd_layers_without_zstandard_fail_clearly(kit, settings, tmp_path: Path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_zstd(name: str, *args: object, **kwargs: object) -> object:
        if name == "zstandard":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zstd)
    with pytest.raises(Exception, match=re.escape("install modelcrate[zstd]")):
        api.unpack("kit:v1", tmp_path / "out", config=settings)
    assert not (tmp_path / "out").exists() or tree(tmp_path / "out") == {}
