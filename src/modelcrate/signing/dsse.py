"""DSSE v1: the pre-authentication encoding and the envelope that carries a signed payload.

Spec: https://github.com/secure-systems-lab/dsse (envelope.md, protocol.md). A signature never covers the
payload alone; it covers ``PAE(payloadType, payload)``, so a signature cannot be replayed under another type.

The envelope keeps the payload as the exact bytes that were signed. Nothing here parses or re-serialises
them: verifiers hand the same bytes to the statement parser.

Example:

>>> env = Envelope(payload=b"{}", payload_type="application/vnd.in-toto+json", signatures=(Signature(sig=b"s"),))
>>> Envelope.from_json(env.to_json()) == env
True
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelcrate.errors import SignatureError
from modelcrate.format import canonical, untrusted_json

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024  # as a bundle: a referrer layer, capped like a manifest


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``payload_type`` and ``payload``.

    Lengths are byte lengths (the type is UTF-8 encoded first), written in ASCII decimal.

    >>> pae("t", b"hello")
    b'DSSEv1 1 t 5 hello'
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def b64encode(data: bytes) -> str:
    """Standard base64 with padding: what Sigstore bundles and DSSE producers write.

    >>> b64encode(b"hi")
    'aGk='
    """
    return base64.b64encode(data).decode("ascii")


def b64decode(text: Any, *, what: str) -> bytes:
    """Decode standard or URL-safe base64 (DSSE allows both), padding optional.

    Raises :class:`SignatureError` naming ``what`` when ``text`` is not base64.

    >>> b64decode("aGk", what="payload")
    b'hi'
    """
    if not isinstance(text, str):
        raise SignatureError(f"{what} is not a base64 string")
    padded = text + "=" * (-len(text) % 4)
    alphabet = b"-_" if ("-" in text or "_" in text) else None
    try:
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what} is not valid base64") from None


@dataclass(frozen=True)
class Signature:
    """One DSSE signature: raw signature bytes plus an optional key id (informational only)."""

    sig: bytes
    keyid: str = ""

    def to_dict(self) -> dict[str, str]:
        """The JSON object form, ``{"keyid": ..., "sig": <base64>}``."""
        return {"keyid": self.keyid, "sig": b64encode(self.sig)}

    @classmethod
    def from_dict(cls, obj: Any) -> Signature:
        """Parse one signature object; ``keyid`` may be absent, empty or null (OMS writes all three)."""
        if not isinstance(obj, Mapping):
            raise SignatureError("DSSE signature entry is not an object")
        keyid = obj.get("keyid")
        if keyid is not None and not isinstance(keyid, str):
            raise SignatureError("DSSE signature keyid is not a string")
        sig = b64decode(obj.get("sig"), what="DSSE signature")
        if not sig:
            raise SignatureError("DSSE signature is empty")
        return cls(sig=sig, keyid=keyid or "")


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: the signed payload bytes, its type, and one or more signatures."""

    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...]

    def pae(self) -> bytes:
        """The bytes each signature covers."""
        return pae(self.payload_type, self.payload)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form used inside a Sigstore bundle (``dsseEnvelope``)."""
        return {
            "payload": b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [s.to_dict() for s in self.signatures],
        }

    def to_json(self) -> bytes:
        """Canonical JSON of the envelope."""
        return canonical.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any) -> Envelope:
        """Parse the JSON object form; raises :class:`SignatureError` on any malformation."""
        if not isinstance(obj, Mapping):
            raise SignatureError("DSSE envelope is not an object")
        payload_type = obj.get("payloadType")
        if not isinstance(payload_type, str) or not payload_type:
            raise SignatureError("DSSE envelope has no payloadType")
        payload = b64decode(obj.get("payload"), what="DSSE payload")
        raw_sigs = obj.get("signatures")
        if not isinstance(raw_sigs, list) or not raw_sigs:
            raise SignatureError("DSSE envelope has no signatures")
        return cls(
            payload=payload,
            payload_type=payload_type,
            signatures=tuple(Signature.from_dict(s) for s in raw_sigs),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Envelope:
        """Parse an envelope from JSON text."""
        obj = untrusted_json.loads(data, max_bytes=MAX_ENVELOPE_BYTES, what="DSSE envelope", error=SignatureError)
        return cls.from_dict(obj)
