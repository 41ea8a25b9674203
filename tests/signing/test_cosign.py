"""cosign simple-signing payloads: exact bytes, signature annotation, verification."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from modelcrate.errors import SignatureError, UsageError
from modelcrate.signing import cosign, keys

from .conftest import GOLDEN, GOLDEN_DIGEST, GOLDEN_SUBJECT


def test_golden_payload() -> None:
    payload = cosign.simple_signing_payload(
        GOLDEN_SUBJECT, GOLDEN_DIGEST, {"org.example/run": "42", "note": "a<b & c>d"}
    )
    assert payload == (GOLDEN / "cosign-payload.json").read_bytes()


def test_matches_a_payload_cosign_wrote() -> None:
    # A payload recorded from cosign (public test data elsewhere): repository, digest, and the sha256
    # of its exact bytes.
    payload = cosign.simple_signing_payload(
        "us-docker.pkg.dev/confidential-space-images-dev/cs-cosign-tests/base",
        "sha256:9494e567c7c44e8b9f8808c1658a47c9b7979ef3cceef10f48754fc2706802ba",
    )
    assert hashlib.sha256(payload).hexdigest() == "d1e44a76902409836227b982beb920189949927c2011f196594bd34c5bb8f8b1"
    assert payload.endswith(b'"type":"cosign container image signature"},"optional":null}')


def test_go_json_encoding_rules() -> None:
    payload = cosign.simple_signing_payload("r", GOLDEN_DIGEST, {"z": "\u2028", "a": "é\"\\\n"})
    assert payload.endswith('"optional":{"a":"é\\"\\\\\\n","z":"\\u2028"}}'.encode())
    assert cosign.simple_signing_payload("r", GOLDEN_DIGEST, {}).endswith(b'"optional":{}}')


def test_signature_tag_and_constants() -> None:
    assert cosign.signature_tag(GOLDEN_DIGEST) == GOLDEN_DIGEST.replace("sha256:", "sha256-") + ".sig"
    assert cosign.SIMPLE_SIGNING_MEDIA_TYPE == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert cosign.SIGNATURE_ANNOTATION == "dev.cosignproject.cosign/signature"


def test_sign_and_verify() -> None:
    key = keys.generate("ecdsa-p256")
    payload = cosign.simple_signing_payload(GOLDEN_SUBJECT, GOLDEN_DIGEST)
    annotations = cosign.sign_payload(payload, key)
    # What cosign verifies: ECDSA P-256 / SHA-256, ASN.1 DER, base64 in the annotation.
    raw = base64.b64decode(annotations[cosign.SIGNATURE_ANNOTATION])
    key.public_key().verify(raw, payload, ec.ECDSA(hashes.SHA256()))
    document = cosign.verify_payload(payload, annotations, key.public_key(), digest=GOLDEN_DIGEST,
                                     docker_reference=GOLDEN_SUBJECT)
    assert document["critical"]["image"]["docker-manifest-digest"] == GOLDEN_DIGEST


def test_verify_refusals() -> None:
    key = keys.generate("ecdsa-p256")
    payload = cosign.simple_signing_payload(GOLDEN_SUBJECT, GOLDEN_DIGEST)
    annotations = cosign.sign_payload(payload, key)
    with pytest.raises(SignatureError, match="does not verify"):
        cosign.verify_payload(payload, annotations, keys.generate().public_key(), digest=GOLDEN_DIGEST)
    other = "sha256:" + "0" * 64
    with pytest.raises(SignatureError, match=f"signature is for {GOLDEN_DIGEST}, not {other}"):
        cosign.verify_payload(payload, annotations, key.public_key(), digest=other)
    with pytest.raises(SignatureError, match="not 'registry.example.com/else'"):
        cosign.verify_payload(payload, annotations, key.public_key(), digest=GOLDEN_DIGEST,
                              docker_reference="registry.example.com/else")
    with pytest.raises(SignatureError, match="annotation"):
        cosign.verify_payload(payload, {}, key.public_key(), digest=GOLDEN_DIGEST)
    junk = b'{"critical":{"type":"something else"}}'
    with pytest.raises(SignatureError, match="not a cosign container image signature"):
        cosign.verify_payload(junk, cosign.sign_payload(junk, key), key.public_key(), digest=GOLDEN_DIGEST)


@pytest.mark.parametrize(
    "args, reason",
    [
        (("", GOLDEN_DIGEST, None), "docker reference"),
        (("r", "sha256:abc", None), "sha256:<64 hex>"),
        (("r", GOLDEN_DIGEST, {"k": 1}), "strings to strings"),
        (("r\udcff", GOLDEN_DIGEST, None), "Unicode"),
    ],
)
def test_payload_refuses(args: tuple, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        cosign.simple_signing_payload(*args)
