"""Golden bytes of the lifecycle records (spec/examples/lifecycle/): the promotion and deprecation statements
as signed, a history entry index, the empty-stage marker. ECDSA signatures are randomised, so the
statements (what is signed) are pinned rather than the bundles.

Regenerate after a deliberate format change with ``MODELCRATE_REGENERATE_GOLDEN=1 pytest tests/lifecycle``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelcrate.format.descriptor import Descriptor
from modelcrate.format.mediatypes import OCI_INDEX, OCI_MANIFEST
from modelcrate.lifecycle import records
from modelcrate.signatures import ANN_BUNDLE_CONTENT, ANN_PREDICATE_TYPE, BUNDLE_MEDIA_TYPE
from modelcrate.signing.statement import build_statement, parse_statement

GOLDEN = Path(__file__).resolve().parents[2] / "spec" / "examples" / "lifecycle"
NAME = "registry.example.com/models/demo"
MODEL = "sha256:f89f9a1af8d8fae4de274822e96399c5aa0a6fee619572661456c1978b6db095"
PREVIOUS_MODEL = "sha256:" + "1" * 64
PREVIOUS_ENTRY = "sha256:" + "2" * 64
RECORD = "sha256:" + "3" * 64
WHEN = "2026-01-02T03:04:05Z"


def _promotion() -> records.Promotion:
    return records.promotion(
        stage="production", action="promote", from_digest=PREVIOUS_MODEL, to_digest=MODEL,
        actor="key 3b1f0c2d4e5f6a7b", reason="CAB-1234: quarterly refresh",
        evidence=[records.Evidence("approval", "sha256:" + "a" * 64, "key 8293112b1e8a7735",
                                   "https://modelcrate.dev/approval/v1"),
                  records.Evidence("signature", "sha256:" + "b" * 64, "key 0f0e0d0c0b0a0908",
                                   "https://sigstore.dev/cosign/sign/v1")],
        policy="sha256:" + "c" * 64, time=WHEN, previous=PREVIOUS_ENTRY, sequence=7)


def golden_files() -> dict[str, bytes]:
    subject = [(NAME, {"sha256": MODEL[7:]})]
    dep = records.deprecation(reason="superseded by 1.1.0", actor="key 3b1f0c2d4e5f6a7b", time=WHEN,
                              successor=f"{NAME}@sha256:" + "d" * 64)
    record = Descriptor(OCI_MANIFEST, RECORD, 1024, {ANN_BUNDLE_CONTENT: "dsse-envelope",
                                                     ANN_PREDICATE_TYPE: records.PROMOTION_V1,
                                                     "org.opencontainers.image.created": WHEN}, BUNDLE_MEDIA_TYPE)
    entry = records.build_entry(record, Descriptor(OCI_INDEX, PREVIOUS_ENTRY, 900), Descriptor(OCI_MANIFEST, MODEL, 3393),
                                stage="production", sequence=7, created=WHEN)
    return {
        "promotion-statement.json": build_statement(subject, records.PROMOTION_V1, _promotion().to_predicate()),
        "deprecation-statement.json": build_statement(subject, records.DEPRECATION_V1, dep.to_predicate()),
        "history-entry.json": entry,
        "empty-stage-manifest.json": records.empty_stage("production")[0],
    }


@pytest.mark.parametrize("name", sorted(golden_files()))
def test_golden(name: str) -> None:
    data = golden_files()[name]
    if os.environ.get("MODELCRATE_REGENERATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        (GOLDEN / name).write_bytes(data)
    assert (GOLDEN / name).read_bytes() == data


def test_golden_files_read_back() -> None:
    statement = parse_statement((GOLDEN / "promotion-statement.json").read_bytes())
    assert records.parse_promotion(statement.predicate) == _promotion()
    node = records.parse_entry((GOLDEN / "history-entry.json").read_bytes())
    assert (node.sequence, node.stage, node.previous.digest, node.record.digest) == (7, "production", PREVIOUS_ENTRY,
                                                                                     RECORD)
    marker = json.loads((GOLDEN / "empty-stage-manifest.json").read_bytes())
    assert marker["artifactType"] == records.EMPTY_STAGE_TYPE and marker["layers"] == []


@pytest.mark.parametrize("change, message", [
    ({"action": "publish"}, "action must be one of"),
    ({"to": None}, "names the digest it moves"),
    ({"sequence": 1}, "sequence starts at 1"),
    ({"previous": "sha256:12"}, "previous"),
    ({"policy": "latest"}, "policy must be"),
    ({"time": "2026-01-02 03:04:05"}, "RFC 3339"),
    ({"evidence": [{"kind": "approval"}]}, "digest"),
    ({"extra": 1}, "unknown fields"),
    ({"sequence": True}, "sequence"),
])
def test_malformed_promotions_are_refused(change: dict, message: str) -> None:
    predicate = {**_promotion().to_predicate(), **change}
    with pytest.raises(records.RecordError, match=message):
        records.parse_promotion(predicate)


@pytest.mark.parametrize("raw, message", [
    (b"[]", "malformed"),
    (b'{"schemaVersion":2,"manifests":[]}', "artifactType"),
])
def test_malformed_entries_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(records.RecordError, match=message):
        records.parse_entry(raw)


def test_an_entry_whose_annotation_and_listing_disagree_is_refused() -> None:
    raw = golden_files()["history-entry.json"].replace(PREVIOUS_ENTRY.encode(), b"sha256:" + b"4" * 64, 1)
    with pytest.raises(records.RecordError, match="disagree"):
        records.parse_entry(raw)


def test_the_spec_quotes_the_marker_and_links_every_golden_file() -> None:
    spec = (GOLDEN.parents[1] / "lifecycle.md").read_text()
    assert (GOLDEN / "empty-stage-manifest.json").read_text() in spec
    for name in golden_files():
        assert f"examples/lifecycle/{name}" in spec, name
