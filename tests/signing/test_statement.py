"""in-toto Statement v1: builder bytes, the Go binding's conformance cases, and check_statement."""

from __future__ import annotations

import json

import pytest

from modelcrate.errors import SignatureError, UsageError
from modelcrate.signing import statement as st

from .conftest import GOLDEN, GOLDEN_DIGEST, GOLDEN_HEX, GOLDEN_SUBJECT, INTOTO

CASES = json.loads((INTOTO / "cases" / "index.json").read_text())["cases"]


def _cases(kind: str) -> list[dict]:
    return [c for c in CASES if c["kind"] == kind]


@pytest.mark.parametrize("case", _cases("statement"), ids=lambda c: c["file"])
def test_statement_conformance_cases(case: dict) -> None:
    data = (INTOTO / "cases" / case["file"]).read_bytes()
    if case["expect_valid"]:
        st.parse_statement(data)
    else:
        with pytest.raises(st.InvalidStatement) as info:
            st.parse_statement(data)
        assert info.value.code == case["expected_error"]


@pytest.mark.parametrize("case", _cases("resource-descriptor"), ids=lambda c: c["file"])
def test_resource_descriptor_conformance_cases(case: dict) -> None:
    rd = json.loads((INTOTO / "cases" / case["file"]).read_bytes())
    if case["expect_valid"]:
        st.validate_resource_descriptor(rd)
    else:
        with pytest.raises(st.InvalidStatement) as info:
            st.validate_resource_descriptor(rd)
        assert info.value.code == case["expected_error"]


def test_spec_allows_missing_predicate_when_lenient() -> None:
    data = (INTOTO / "cases" / "statement-invalid-missing-predicate.json").read_bytes()
    assert st.parse_statement(data, require_predicate=False).predicate is None


@pytest.mark.parametrize("name", sorted(p.name for p in (INTOTO / "examples").glob("*.statement.*.json")))
def test_real_statements_parse(name: str) -> None:
    parsed = st.parse_statement((INTOTO / "examples" / name).read_bytes())
    assert parsed.predicate_type == st.SLSA_PROVENANCE_V1


def test_build_statement_golden_bytes() -> None:
    data = st.build_statement([(GOLDEN_SUBJECT, {"sha256": GOLDEN_HEX})], "signature", {})
    assert data == (GOLDEN / "statement.json").read_bytes()
    parsed = st.parse_statement(data)
    assert parsed.raw == data
    assert parsed.predicate == {}
    assert parsed.subjects == (st.Subject(GOLDEN_SUBJECT, {"sha256": GOLDEN_HEX}),)


@pytest.mark.parametrize(
    "friendly, uri",
    [("signature", st.SIGNATURE_V1), ("provenance", st.SLSA_PROVENANCE_V1), ("evaluation", st.EVALUATION_V1)],
)
def test_friendly_predicate_names(friendly: str, uri: str) -> None:
    assert st.predicate_type_uri(friendly) == uri
    assert st.predicate_type_uri(uri) == uri
    data = st.build_statement([("m", {"sha256": GOLDEN_HEX})], friendly, {})
    assert st.parse_statement(data).predicate_type == uri


def test_build_keeps_subject_order_and_refuses_bad_input() -> None:
    data = st.build_statement([("b", {"sha256": "1" * 64}), ("a", {"sha256": "2" * 64})], "x:y", {"k": [1]})
    assert [s.name for s in st.parse_statement(data).subjects] == ["b", "a"]
    with pytest.raises(UsageError, match="at least one subject"):
        st.build_statement([], "signature", {})
    with pytest.raises(UsageError, match="hex"):
        st.build_statement([("m", {"sha256": "xyz"})], "signature", {})
    with pytest.raises(UsageError, match="non-empty name"):
        st.build_statement([("", {"sha256": "1" * 64})], "signature", {})
    with pytest.raises(UsageError, match="NaN"):
        st.build_statement([("m", {"sha256": "1" * 64})], "evaluation", {"v": float("nan")})
    with pytest.raises(UsageError, match="JSON object"):
        st.build_statement([("m", {"sha256": "1" * 64})], "evaluation", [])  # type: ignore[arg-type]


def test_duplicate_keys_refused() -> None:
    # Two parsers could read two different subjects out of the same signed bytes.
    data = (
        b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"' + b"1" * 64
        + b'","sha256":"' + b"2" * 64 + b'"}}],"predicateType":"p","predicate":{}}'
    )
    with pytest.raises(st.InvalidStatement, match="repeats the key"):
        st.parse_statement(data)


def test_nan_and_garbage_refused() -> None:
    with pytest.raises(st.InvalidStatement, match="NaN"):
        st.parse_statement(b'{"x": NaN}')
    with pytest.raises(st.InvalidStatement, match="not valid JSON"):
        st.parse_statement(b"\xff")
    with pytest.raises(st.InvalidStatement, match="not a JSON object"):
        st.parse_statement(b"[]")


class TestCheckStatement:
    data = st.build_statement([(GOLDEN_SUBJECT, {"sha256": GOLDEN_HEX})], "provenance", {})

    def test_matches(self) -> None:
        parsed = st.check_statement(self.data, digest=GOLDEN_DIGEST, predicate_type="provenance", name=GOLDEN_SUBJECT)
        assert parsed.predicate_type == st.SLSA_PROVENANCE_V1

    def test_other_digest(self) -> None:
        other = "sha256:" + "0" * 64
        with pytest.raises(SignatureError) as info:
            st.check_statement(self.data, digest=other)
        assert str(info.value) == f"signature is for {GOLDEN_DIGEST}, not {other}"

    def test_other_predicate_type(self) -> None:
        with pytest.raises(SignatureError, match="of type https://slsa.dev/provenance/v1, not https://sigstore"):
            st.check_statement(self.data, digest=GOLDEN_DIGEST, predicate_type="signature")

    def test_other_name(self) -> None:
        with pytest.raises(SignatureError, match="not 'registry.example.com/other'"):
            st.check_statement(self.data, digest=GOLDEN_DIGEST, name="registry.example.com/other")

    def test_digest_must_be_oci_form(self) -> None:
        with pytest.raises(UsageError, match="sha256:<64 hex>"):
            st.check_statement(self.data, digest=GOLDEN_HEX)
