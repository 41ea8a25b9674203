"""Strict parsing of untrusted manifests and indexes; exact bytes from the builders."""

from __future__ import annotations

import json

import pytest

from modelcrate.errors import InvalidManifest
from modelcrate.format import canonical, digest
from modelcrate.format.descriptor import (
    Descriptor, build_index, build_manifest, parse_index, parse_manifest, successors,
)
from modelcrate.format.mediatypes import MAX_MANIFEST_BYTES, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST

CFG = Descriptor.of(OCI_EMPTY, b"{}")
LAYER = Descriptor.of("application/vnd.cncf.model.weight.v1.raw", b"weights", annotations={"k": "v"})


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical.dumps({"b": [1, {"d": None, "c": "é"}], "a": True}) == '{"a":true,"b":[1,{"c":"é","d":null}]}'.encode()
    with pytest.raises(ValueError):
        canonical.dumps({"x": float("nan")})


def test_build_manifest_bytes_and_round_trip() -> None:
    raw = build_manifest(CFG, [LAYER], artifact_type="application/x-test", annotations={"a": "1"})
    assert raw == canonical.dumps(json.loads(raw))
    m = parse_manifest(raw)
    assert m.config == CFG and m.layers == (LAYER,)
    assert m.layers[0].annotations == {"k": "v"}
    assert m.artifact_type == "application/x-test"
    assert m.digest == digest.of(raw)
    assert successors(Descriptor.of(OCI_MANIFEST, raw), raw) == [CFG, LAYER]


def test_subject_is_not_a_successor() -> None:
    subject = Descriptor.of(OCI_MANIFEST, b"{}")
    raw = build_manifest(CFG, [LAYER], subject=subject)
    assert parse_manifest(raw).subject == subject
    assert subject not in successors(Descriptor.of(OCI_MANIFEST, raw), raw)


def test_descriptor_equality_ignores_annotations() -> None:
    assert LAYER == LAYER.bare()
    assert len({LAYER, LAYER.bare()}) == 1


def _manifest_with(**override: object) -> bytes:
    obj = json.loads(build_manifest(CFG, [LAYER]))
    obj.update(override)
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (_manifest_with(schemaVersion=1), "schemaVersion"),
        (_manifest_with(mediaType="text/html"), "unsupported mediaType"),
        (_manifest_with(layers="x"), "layers is not a list"),
        (_manifest_with(config={"mediaType": "a/b", "digest": "sha512:" + "a" * 128, "size": 1}), "digest"),
        (_manifest_with(config={"mediaType": "a/b", "digest": "sha256:" + "a" * 64, "size": -1}), "size"),
        (_manifest_with(config={"mediaType": "a/b", "digest": "sha256:" + "a" * 64, "size": True}), "size"),
        (_manifest_with(config={"mediaType": "not a type", "digest": "sha256:" + "a" * 64, "size": 1}), "mediaType"),
        (_manifest_with(annotations={"a": 1}), "string map"),
        (_manifest_with(layers=[{"mediaType": "a/b", "digest": "sha256:" + "a" * 64, "size": 1}] * 10_001), "limit"),
    ],
)
def test_parse_manifest_rejects(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidManifest, match=message):
        parse_manifest(raw)


def test_huge_manifest_refused_before_parsing() -> None:
    with pytest.raises(InvalidManifest, match="over the"):
        parse_manifest(b" " * (MAX_MANIFEST_BYTES + 1))


def test_index_round_trip() -> None:
    m = Descriptor.of(OCI_MANIFEST, b"{}", annotations={"org.opencontainers.image.ref.name": "x:1"})
    raw = build_index([m])
    idx = parse_index(raw)
    assert idx.manifests == (m,) and idx.media_type == OCI_INDEX
    assert successors(Descriptor.of(OCI_INDEX, raw), raw) == [m]
    with pytest.raises(InvalidManifest, match="expected an image manifest"):
        parse_manifest(raw)
