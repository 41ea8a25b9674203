"""The bounded JSON parser: depth, numbers, repeated keys, size and encoding each give one error line of
the caller's class, never a RecursionError, at every parse point of untrusted JSON."""

from __future__ import annotations

import pytest

from modelcrate.content.remote.http import error_detail
from modelcrate.errors import InvalidManifest, ModelcrateError, SignatureError
from modelcrate.format import untrusted_json
from modelcrate.format.descriptor import declared_media_type, parse_index, parse_manifest
from modelcrate.signing.bundle import unverified_statement_of
from modelcrate.signing.dsse import Envelope
from modelcrate.signing.statement import InvalidStatement, loads_strict, parse_statement

DEEP = b"[" * 200_000 + b"]" * 200_000
HUGE_INT = b'{"schemaVersion": 2, "n": ' + b"9" * 100_000 + b"}"


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and len(text) < 400, text
    return text


@pytest.mark.parametrize(("data", "match"), [
    (DEEP, "nested more than 64 levels"),
    (b'{"a": "' + b"[" * 1000 + b'"}', None),  # brackets inside a string do not count
    (HUGE_INT, "100026-character number|100000-character number"),
    (b'{"n": 1e999}', "out of range"),
    (b'{"n": NaN}', "NaN"),
    (b'{"a": 1, "a": 2}', "repeats the key 'a'"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"{", "not valid JSON"),
])
def test_loads_refuses_each_hostile_form_in_one_line(data: bytes, match: str | None) -> None:
    if match is None:
        assert untrusted_json.loads(data, max_bytes=1 << 20, what="doc") == {"a": "[" * 1000}
        return
    with pytest.raises(InvalidManifest, match=match) as info:
        untrusted_json.loads(data, max_bytes=1 << 20, what="doc")
    assert isinstance(info.value, ValueError) and info.value.reason  # type: ignore[attr-defined]
    _one_line(info.value)


def test_size_is_checked_before_anything_else() -> None:
    with pytest.raises(SignatureError, match="over the 10-byte limit"):
        untrusted_json.loads(b" " * 11, max_bytes=10, what="bundle", error=SignatureError)


def test_depth_prescan_counts_only_brackets_outside_strings() -> None:
    assert untrusted_json.depth(b'{"a": "\\"[[[", "b": [[{}]]}') == 4
    assert untrusted_json.depth(b"[]" * 1000) == 1


def _manifest_with(extra: bytes) -> bytes:
    return (b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": '
            b'{"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:' + b"0" * 64 + b'", "size": 2}, '
            b'"layers": [], "x": ' + extra + b"}")


@pytest.mark.parametrize("parse", [parse_manifest, parse_index], ids=["manifest", "index"])
def test_manifests_and_indexes_nested_deeply_are_invalid_manifests(parse) -> None:
    with pytest.raises(InvalidManifest, match="nested more than") as info:
        parse(_manifest_with(DEEP[:4_000_000]))
    _one_line(info.value)
    assert declared_media_type(_manifest_with(DEEP[:4_000_000])) is None


@pytest.mark.parametrize("parse", [
    lambda d: loads_strict(d, what="bundle"), Envelope.from_json, parse_statement, unverified_statement_of,
], ids=["loads_strict", "envelope", "statement", "bundle"])
def test_signed_documents_nested_deeply_or_with_huge_numbers_are_signature_errors(parse) -> None:
    for data in (DEEP, b'{"a": ' + b"1" * 5000 + b"}", b'{"a": 1, "a": 1}'):
        with pytest.raises(SignatureError) as info:
            parse(data)
        _one_line(info.value)


def test_statement_codes_follow_the_reference_binding() -> None:
    with pytest.raises(InvalidStatement) as dup:
        parse_statement(b'{"_type": 1, "_type": 2}')
    with pytest.raises(InvalidStatement) as num:
        parse_statement(b'{"a": 1e400}')
    assert (dup.value.code, num.value.code) == ("ErrDuplicateKey", "ErrInvalidNumber")


def test_a_registry_error_body_nested_deeply_is_shown_as_text() -> None:
    codes, message = error_detail(DEEP[:100_000])
    assert codes == [] and message.startswith("[[[")


def test_every_error_is_a_modelcrate_error() -> None:
    with pytest.raises(ModelcrateError):
        untrusted_json.loads(DEEP, max_bytes=1 << 20, what="x", error=ModelcrateError)
