"""The ModelPack profile: golden files, schemas, builders and readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import referencing
from jsonschema import Draft4Validator, Draft202012Validator, FormatChecker

from modelcrate import packing as pack
from modelcrate.errors import InvalidManifest, InvalidMetadata
from modelcrate.format import metadata
from modelcrate.format.descriptor import Descriptor, build_manifest
from modelcrate.format.mediatypes import (
    ANN_METADATA, LEGACY_MODEL_ARTIFACT, MAX_METADATA_BYTES, MODEL_ARTIFACT, MODEL_CONFIG, OCI_EMPTY,
)
from modelcrate.format.model import build_config, read_model

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
GOLDEN = ROOT / "spec" / "examples"


def oci_validator(schema: str) -> Draft4Validator:
    base = FIX / "oci-schema"
    aliases = json.loads((base / "uri-aliases.json").read_text())["aliases"]
    resources = []
    for name, uris in aliases.items():
        res = referencing.Resource.from_contents(json.loads((base / name).read_text()),
                                                 default_specification=referencing.jsonschema.DRAFT4)
        resources += [(u, res) for u in [*uris, name]]
    registry = referencing.Registry().with_resources(resources)
    return Draft4Validator(json.loads((base / schema).read_text()), registry=registry, format_checker=FormatChecker())


def modelpack_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads((FIX / "modelpack" / "config-schema.json").read_text()),
                                format_checker=FormatChecker())


def staged(directory: Path) -> tuple[bytes, bytes]:
    src, desc = pack.stage(pack.plan(directory))
    with src.fetch(desc) as f:
        manifest = f.read()
    with src.fetch(read_model(manifest).manifest.config) as f:
        return manifest, f.read()


def test_golden_files_byte_for_byte() -> None:
    manifest, config = staged(ROOT / "examples" / "tiny-classifier")
    assert manifest == (GOLDEN / "manifest.json").read_bytes()
    assert config == (GOLDEN / "config.json").read_bytes()
    assert read_model(manifest).manifest.annotations[ANN_METADATA].encode() == (GOLDEN / "metadata.json").read_bytes()


def test_golden_files_validate_against_the_schemas() -> None:
    assert not list(oci_validator("image-manifest-schema.json").iter_errors(json.loads((GOLDEN / "manifest.json").read_bytes())))
    assert not list(modelpack_validator().iter_errors(json.loads((GOLDEN / "config.json").read_bytes())))
    doc = json.loads((GOLDEN / "metadata.json").read_bytes())
    schema = json.loads((ROOT / "spec" / "metadata.schema.json").read_text())
    assert not list(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(doc))


def test_shipped_schema_is_the_spec_schema() -> None:
    shipped = ROOT / "src" / "modelcrate" / "format" / "schemas"
    assert (shipped / "metadata.schema.json").read_bytes() == (ROOT / "spec" / "metadata.schema.json").read_bytes()
    assert (shipped / "modelpack-config.schema.json").read_bytes() == (FIX / "modelpack" / "config-schema.json").read_bytes()


def test_our_config_validator_agrees_with_upstream_cases() -> None:
    """The ModelPack schema as we load it gives upstream's verdict on all 27 cases."""
    from modelcrate.format import schemas

    cases = json.loads((FIX / "modelpack" / "config-cases" / "index.json").read_text())["cases"]
    assert len(cases) == 27
    for case in cases:
        doc = json.loads((FIX / "modelpack" / "config-cases" / case["file"]).read_text())
        assert (not schemas.errors("modelpack-config.schema.json", doc)) == case["expect_valid"], case["file"]


META = {"schema": metadata.SCHEMA_ID, "name": "m", "version": "1"}


def test_config_mapping_from_metadata() -> None:
    meta = {**META, "license": "MIT", "homepage": "https://x", "architecture": "llama", "paramSize": "8b",
            "lineage": {"code": {"repository": "https://git/x", "commit": "a" * 40},
                        "datasets": [{"name": "d", "uri": "https://d"}, {"name": "e"}]},
            "created": "2025-01-01T00:00:00Z"}
    cfg = json.loads(build_config(meta, ["sha256:" + "b" * 64]))
    assert cfg["descriptor"] == {"name": "m", "version": "1", "licenses": ["MIT"], "docURL": "https://x",
                                 "sourceURL": "https://git/x", "revision": "a" * 40, "datasetsURL": ["https://d"],
                                 "createdAt": "2025-01-01T00:00:00Z"}
    assert cfg["config"] == {"architecture": "llama", "paramSize": "8b"}
    assert cfg["modelfs"] == {"type": "layers", "diffIds": ["sha256:" + "b" * 64]}
    assert not list(modelpack_validator().iter_errors(cfg))


def test_config_refused_when_modelpack_schema_says_no() -> None:
    with pytest.raises(InvalidManifest, match="capabilities"):
        build_config({**META, "capabilities": {"reasoning": "yes"}}, ["sha256:" + "b" * 64])
    with pytest.raises(InvalidManifest, match="diffIds"):
        build_config(META, [])


def test_metadata_size_cap() -> None:
    big = {**META, "extra": {"blob": "x" * MAX_METADATA_BYTES}}
    with pytest.raises(InvalidMetadata, match="cap"):
        metadata.validate(big)


def test_metadata_schema_errors_are_reported() -> None:
    with pytest.raises(InvalidMetadata, match="version"):
        metadata.validate({"schema": metadata.SCHEMA_ID, "name": "m"})


def test_reader_accepts_legacy_names() -> None:
    layer = Descriptor("application/vnd.cnai.model.weight.v1.raw", "sha256:" + "c" * 64, 3,
                       {"org.cnai.model.filepath": "w.bin"})
    raw = build_manifest(Descriptor("application/vnd.cnai.model.config.v1+json", "sha256:" + "d" * 64, 2), [layer],
                         artifact_type=LEGACY_MODEL_ARTIFACT)
    view = read_model(raw)
    assert [(f.path, f.kind, f.format) for f in view.files] == [("w.bin", "weight", "raw")]
    assert view.metadata is None


def test_reader_refuses_non_model_artifacts() -> None:
    raw = build_manifest(Descriptor.of(OCI_EMPTY, b"{}"), [], artifact_type="application/x-other")
    with pytest.raises(InvalidManifest, match="not a model artifact"):
        read_model(raw)
    raw = build_manifest(Descriptor.of(MODEL_CONFIG, b"{}"), [Descriptor.of("text/plain", b"x")],
                         artifact_type=MODEL_ARTIFACT)
    with pytest.raises(InvalidManifest, match="not a ModelPack layer"):
        read_model(raw)


def test_documented_golden_digests_are_current() -> None:
    """README.md and spec/README.md quote the golden digests; they must not drift from the files."""
    import hashlib

    for name in ("manifest.json", "config.json"):
        hexd = hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest()
        assert f"sha256:{hexd}" in (ROOT / "spec" / "README.md").read_text(), name
    manifest_hex = hashlib.sha256((GOLDEN / "manifest.json").read_bytes()).hexdigest()
    assert f"sha256:{manifest_hex}" in (ROOT / "README.md").read_text()


def test_spec_quotes_the_example_modelfile_verbatim() -> None:
    example = (ROOT / "examples" / "tiny-classifier" / "modelcrate.yaml").read_text()
    assert example in (ROOT / "spec" / "modelfile.md").read_text()
