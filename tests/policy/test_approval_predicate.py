"""The approval predicate: builder, parser, and golden bytes of the statement and bundle it is signed into."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from modelcrate.errors import SignatureError, UsageError
from modelcrate.signing import bundle, statement
from modelcrate.signing.approval import APPROVAL_V1, approval_predicate, parse_approval
from modelcrate.signing.predicates import check_name
from tests.signing.conftest import GOLDEN_DIGEST, GOLDEN_HEX, GOLDEN_SUBJECT, golden_ed25519_key

GOLDEN = Path(__file__).resolve().parent / "golden"
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _predicate(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {"stage": "production", "decision": "approve", "subject_digest": GOLDEN_DIGEST,
                                 "actor": "key 3b1f0c2d4e5f6a7b", "time": WHEN, "comment": "reviewed the eval"}
    fields.update(changes)
    return approval_predicate(**fields)  # type: ignore[arg-type]


def test_golden_approval_statement_and_bundle() -> None:
    """The statement bytes and (Ed25519 is deterministic) the signed bundle bytes are pinned."""
    data = statement.build_statement([(GOLDEN_SUBJECT, {"sha256": GOLDEN_HEX})], APPROVAL_V1, _predicate())
    assert data == (GOLDEN / "approval-statement.json").read_bytes()
    signed = bundle.sign_statement(data, golden_ed25519_key())
    assert signed == (GOLDEN / "approval-bundle.json").read_bytes()
    rejection = statement.build_statement([(GOLDEN_SUBJECT, {"sha256": GOLDEN_HEX})], APPROVAL_V1,
                                          _predicate(decision="reject", comment=None))
    assert rejection == (GOLDEN / "rejection-statement.json").read_bytes()


def test_parse_round_trip() -> None:
    fields = parse_approval(_predicate())
    assert (fields.stage, fields.decision, fields.subject_digest, fields.comment) == (
        "production", "approve", GOLDEN_DIGEST, "reviewed the eval")
    assert fields.time == WHEN


@pytest.mark.parametrize(("change", "message"), [
    ({"decision": "maybe"}, "decision must be one of approve, reject"),
    ({"stage": "Prod"}, "not a valid stage name"),
    ({"stage": "1.0"}, "not a valid stage name"),
    ({"subject_digest": "sha256:abc"}, "is not sha256:<64 hex>"),
    ({"actor": ""}, "actor"),
    ({"time": dt.datetime(2026, 1, 1)}, "timezone-aware"),
    ({"comment": "x" * 5000}, "longer than"),
])
def test_builder_refuses(change: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _predicate(**change)


@pytest.mark.parametrize(("predicate", "message"), [
    ("not an object", "not an object"),
    ({**_predicate(), "extra": 1}, "unknown fields: extra"),
    ({**_predicate(), "time": "yesterday"}, "RFC 3339"),
    ({**_predicate(), "comment": 5}, "comment must be a string"),
    ({k: v for k, v in _predicate().items() if k != "stage"}, "stage"),
])
def test_parser_refuses(predicate: object, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        parse_approval(predicate)


def test_stage_and_environment_names() -> None:
    assert check_name("stage", "pre-prod") == "pre-prod"
    assert check_name("environment", "e" * 63) == "e" * 63
    for bad in ("", "a" * 33, "-x", "prod/1", "PROD", None):
        with pytest.raises(UsageError, match="is not a valid stage name"):
            check_name("stage", bad)
    for bad in ("", "e" * 64, "-x", "prod/eu", "Prod", 3):
        with pytest.raises(UsageError, match="is not a valid environment name"):
            check_name("environment", bad)
