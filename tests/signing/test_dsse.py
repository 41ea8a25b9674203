"""DSSE PAE and envelope (de)serialisation."""

from __future__ import annotations

import json

import pytest

from modelcrate.errors import SignatureError
from modelcrate.signing import dsse

from .conftest import GOLDEN


def test_pae_spec_example() -> None:
    # The worked example in the DSSE protocol document.
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert dsse.pae("é", b"\xff\x00") == b"DSSEv1 2 \xc3\xa9 2 \xff\x00"


def test_pae_empty_payload() -> None:
    assert dsse.pae("t", b"") == b"DSSEv1 1 t 0 "


def test_pae_golden() -> None:
    statement = (GOLDEN / "statement.json").read_bytes()
    assert dsse.pae(dsse.INTOTO_PAYLOAD_TYPE, statement) == (GOLDEN / "pae.bin").read_bytes()


def test_envelope_round_trip_keeps_payload_bytes() -> None:
    payload = b'{"b": 1,  "a": 2}\n'  # not canonical on purpose: must come back untouched
    env = dsse.Envelope(payload, dsse.INTOTO_PAYLOAD_TYPE, (dsse.Signature(sig=b"\x01\x02", keyid="k"),))
    again = dsse.Envelope.from_json(env.to_json())
    assert again == env
    assert again.payload == payload
    assert json.loads(env.to_json())["signatures"] == [{"keyid": "k", "sig": "AQI="}]


@pytest.mark.parametrize("keyid", [None, "", "absent"])
def test_keyid_may_be_null_empty_or_absent(keyid: str | None) -> None:
    sig: dict[str, object] = {"sig": "AQI="}
    if keyid != "absent":
        sig["keyid"] = keyid
    env = dsse.Envelope.from_dict({"payload": "e30=", "payloadType": "t", "signatures": [sig]})
    assert env.signatures[0].keyid == ""
    assert env.payload == b"{}"


def test_url_safe_and_unpadded_base64_accepted() -> None:
    env = dsse.Envelope.from_dict({"payload": "_-8", "payloadType": "t", "signatures": [{"sig": "AQI"}]})
    assert env.payload == b"\xff\xef"


@pytest.mark.parametrize(
    "obj, reason",
    [
        ([], "not an object"),
        ({"payloadType": "t", "signatures": [{"sig": "AQI="}]}, "DSSE payload"),
        ({"payload": "e30=", "signatures": [{"sig": "AQI="}]}, "payloadType"),
        ({"payload": "e30=", "payloadType": "t", "signatures": []}, "no signatures"),
        ({"payload": "e30=", "payloadType": "t", "signatures": [{"sig": ""}]}, "empty"),
        ({"payload": "!!", "payloadType": "t", "signatures": [{"sig": "AQI="}]}, "base64"),
        ({"payload": "e30=", "payloadType": "t", "signatures": [{"sig": "AQI=", "keyid": 3}]}, "keyid"),
    ],
)
def test_malformed_envelopes_refused(obj: object, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        dsse.Envelope.from_dict(obj)


def test_envelope_from_invalid_json() -> None:
    with pytest.raises(SignatureError, match="not valid JSON"):
        dsse.Envelope.from_json(b"{")
