"""Sigstore bundle v0.3 with key and X.509 signing: round trips, golden bytes, refusals."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from modelcrate.errors import SignatureError, UsageError
from modelcrate.format import canonical
from modelcrate.signing import bundle, dsse, keys
from modelcrate.signing import statement as st

from .conftest import (
    GOLDEN,
    GOLDEN_DIGEST,
    GOLDEN_HEX,
    GOLDEN_SUBJECT,
    NOW,
    OMS,
    OMS_KEYS,
    UTC,
    Pki,
    golden_ed25519_key,
    make_pki,
)

STATEMENT = st.build_statement([(GOLDEN_SUBJECT, {"sha256": GOLDEN_HEX})], "signature", {})
OTHER_HEX = "0" * 64


def _obj(data: bytes) -> dict:
    return json.loads(data)


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072"])
def test_key_round_trip(algorithm: str) -> None:
    key = keys.generate(algorithm)
    signed = bundle.sign_statement(STATEMENT, key)
    obj = _obj(signed)
    assert obj["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert obj["verificationMaterial"] == {"publicKey": {"hint": keys.key_hint(key)}, "tlogEntries": []}
    assert obj["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(obj["dsseEnvelope"]["payload"]) == STATEMENT
    assert canonical.dumps(obj) == signed
    verified = bundle.verify_with_key(signed, key.public_key())
    assert verified == STATEMENT
    assert st.check_statement(verified, digest=GOLDEN_DIGEST, predicate_type="signature", name=GOLDEN_SUBJECT)


def test_golden_ed25519_bundle() -> None:
    key = golden_ed25519_key()
    signed = bundle.sign_statement((GOLDEN / "statement.json").read_bytes(), key)
    assert signed == (GOLDEN / "bundle-ed25519.json").read_bytes()
    assert bundle.verify_with_key(signed, key.public_key()) == (GOLDEN / "statement.json").read_bytes()


def test_ecdsa_bundle_structure_is_stable_apart_from_the_signature() -> None:
    key = keys.generate("ecdsa-p256")
    first, second = _obj(bundle.sign_statement(STATEMENT, key)), _obj(bundle.sign_statement(STATEMENT, key))
    assert first["dsseEnvelope"]["signatures"][0]["sig"] != second["dsseEnvelope"]["signatures"][0]["sig"]
    for obj in (first, second):
        obj["dsseEnvelope"]["signatures"][0]["sig"] = "-"
    assert first == second
    assert first["dsseEnvelope"]["signatures"][0]["keyid"] == ""


def test_unverified_statement_is_for_display_only() -> None:
    signed = bundle.sign_statement(STATEMENT, keys.generate())
    assert bundle.unverified_statement_of(signed) == STATEMENT


class TestKeyRefusals:
    key = keys.generate("ecdsa-p256")
    signed = bundle.sign_statement(STATEMENT, key)

    def test_wrong_key(self) -> None:
        with pytest.raises(SignatureError, match="the bundle names key"):
            bundle.verify_with_key(self.signed, keys.generate().public_key())

    def test_swapped_payload(self) -> None:
        obj = _obj(self.signed)
        other = st.build_statement([(GOLDEN_SUBJECT, {"sha256": OTHER_HEX})], "signature", {})
        obj["dsseEnvelope"]["payload"] = dsse.b64encode(other)
        with pytest.raises(SignatureError, match="does not verify"):
            bundle.verify_with_key(canonical.dumps(obj), self.key.public_key())

    def test_swapped_payload_type(self) -> None:
        obj = _obj(self.signed)
        obj["dsseEnvelope"]["payloadType"] = "application/json"
        with pytest.raises(SignatureError, match="payload type"):
            bundle.verify_with_key(canonical.dumps(obj), self.key.public_key())

    def test_signature_for_another_digest(self) -> None:
        verified = bundle.verify_with_key(self.signed, self.key.public_key())
        with pytest.raises(SignatureError, match=f"signature is for {GOLDEN_DIGEST}, not sha256:{OTHER_HEX}"):
            st.check_statement(verified, digest=f"sha256:{OTHER_HEX}")

    def test_wrong_predicate_type(self) -> None:
        verified = bundle.verify_with_key(self.signed, self.key.public_key())
        with pytest.raises(SignatureError, match="not https://slsa.dev/provenance/v1"):
            st.check_statement(verified, digest=GOLDEN_DIGEST, predicate_type="provenance")

    def test_signed_non_statement_is_refused(self) -> None:
        payload = b'{"hello": "world"}'
        envelope = bundle.sign_envelope(payload, self.key)
        forged = bundle.assemble_bundle({"publicKey": {"hint": "x"}}, envelope)
        with pytest.raises(st.InvalidStatement):
            bundle.verify_with_key(forged, self.key.public_key())

    @pytest.mark.parametrize(
        "mutate, reason",
        [
            (lambda o: o.update(mediaType="application/json"), "media type"),
            (lambda o: o.pop("dsseEnvelope"), "no dsseEnvelope"),
            (lambda o: (o.pop("dsseEnvelope"), o.update(messageSignature={})), "message signature"),
            (lambda o: o.pop("verificationMaterial"), "verificationMaterial"),
            (lambda o: o["dsseEnvelope"].update(signatures=[]), "no signatures"),
        ],
    )
    def test_malformed_bundles(self, mutate, reason: str) -> None:
        obj = _obj(self.signed)
        mutate(obj)
        with pytest.raises(SignatureError, match=reason):
            bundle.verify_with_key(canonical.dumps(obj), self.key.public_key())

    def test_not_json(self) -> None:
        with pytest.raises(SignatureError):
            bundle.verify_with_key(b"\x00", self.key.public_key())

    def test_refuses_to_sign_a_non_statement(self) -> None:
        with pytest.raises(UsageError, match="refusing to sign"):
            bundle.sign_statement(b'{"_type": "x"}', self.key)


def test_recorded_oms_key_bundles_verify() -> None:
    public = keys.load_public_key((OMS_KEYS / "signing-key-pub.pem").read_bytes())
    for vector in ("v1.1.0-elliptic-key", "v1.0.1-elliptic-key"):
        data = bundle.verify_with_key((OMS / vector / "model.sig").read_bytes(), public)
        assert st.parse_statement(data).predicate_type == "https://model_signing/signature/v1.0"


# --- X.509 -----------------------------------------------------------------------------------------


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _cert_bundle(pki: Pki) -> bytes:
    return bundle.sign_statement(STATEMENT, pki.leaf_key, cert_der=pki.leaf_der)


def test_x509_round_trip(pki: Pki) -> None:
    signed = _cert_bundle(pki)
    material = _obj(signed)["verificationMaterial"]
    assert material == {"certificate": {"rawBytes": dsse.b64encode(pki.leaf_der)}, "tlogEntries": []}
    assert pki.intermediate is not None
    data, leaf = bundle.verify_with_ca(signed, pki.pem(pki.root), [pki.pem(pki.intermediate)], at_time=NOW)
    assert data == STATEMENT and leaf == pki.leaf
    st.check_statement(data, digest=GOLDEN_DIGEST, predicate_type="signature")


def test_x509_with_the_model_signing_test_pki() -> None:
    # Valid 2025-05-02 .. 2035-04-30; a P-384 leaf under an RSA intermediate and root.
    key = keys.load_private_key((OMS_KEYS / "signing-key.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((OMS_KEYS / "signing-key-cert.pem").read_bytes())
    signed = bundle.sign_statement(STATEMENT, key, cert_der=leaf.public_bytes(serialization.Encoding.DER))
    ca = (OMS_KEYS / "ca-cert.pem").read_bytes()
    intermediate = (OMS_KEYS / "int-ca-cert.pem").read_bytes()
    data, _ = bundle.verify_with_ca(signed, ca, [intermediate], at_time=NOW)
    assert data == STATEMENT
    with pytest.raises(SignatureError, match="does not chain to a trusted CA"):
        bundle.verify_with_ca(signed, ca, at_time=NOW)  # the v0.3 bundle has no intermediates
    with pytest.raises(SignatureError, match="expired"):
        bundle.verify_with_ca(signed, ca, [intermediate], at_time=dt.datetime(2035, 5, 1, tzinfo=UTC))


def test_recorded_oms_certificate_bundle_verifies_with_bundled_chain() -> None:
    data, leaf = bundle.verify_with_ca(
        (OMS / "v1.1.0-certificate" / "model.sig").read_bytes(), (OMS_KEYS / "ca-cert.pem").read_bytes(), at_time=NOW
    )
    assert st.parse_statement(data).subjects[0].name == "v1.1.0-certificate"
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CODE_SIGNING]
    )


def test_x509_expired_and_not_yet_valid(pki: Pki) -> None:
    signed = _cert_bundle(pki)
    chain = [pki.pem(pki.intermediate)] if pki.intermediate else []
    with pytest.raises(SignatureError, match="expired on 2027-01-01"):
        bundle.verify_with_ca(signed, pki.pem(pki.root), chain, at_time=dt.datetime(2027, 3, 1, tzinfo=UTC))
    with pytest.raises(SignatureError, match="not valid before 2026-01-01"):
        bundle.verify_with_ca(signed, pki.pem(pki.root), chain, at_time=dt.datetime(2025, 6, 1, tzinfo=UTC))


def test_x509_expired_intermediate_chain() -> None:
    # The leaf is still valid at at_time but the whole chain is checked: the root expires in 2035.
    pki = make_pki(leaf_not_after=dt.datetime(2040, 1, 1, tzinfo=UTC))
    signed = _cert_bundle(pki)
    with pytest.raises(SignatureError, match="does not chain"):
        bundle.verify_with_ca(signed, pki.pem(pki.root), [pki.pem(pki.intermediate)],
                              at_time=dt.datetime(2036, 1, 1, tzinfo=UTC))


def test_x509_untrusted_ca(pki: Pki) -> None:
    other = make_pki()
    with pytest.raises(SignatureError, match="does not chain to a trusted CA"):
        bundle.verify_with_ca(_cert_bundle(pki), other.pem(other.root), [pki.pem(pki.intermediate)], at_time=NOW)


def test_x509_chain_passed_in_does_not_become_trusted(pki: Pki) -> None:
    # Handing the real root in as a mere "chain" file must not make it a trust anchor.
    other = make_pki()
    with pytest.raises(SignatureError, match="does not chain"):
        bundle.verify_with_ca(_cert_bundle(pki), other.pem(other.root),
                              [pki.pem(pki.intermediate), pki.pem(pki.root)], at_time=NOW)


def test_x509_key_usage_checked() -> None:
    no_codesign = make_pki(eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(SignatureError, match="code signing"):
        bundle.verify_with_ca(_cert_bundle(no_codesign), no_codesign.pem(no_codesign.root),
                              [no_codesign.pem(no_codesign.intermediate)], at_time=NOW)
    no_sign = make_pki(digital_signature=False, with_intermediate=False)
    with pytest.raises(SignatureError, match="digital signatures"):
        bundle.verify_with_ca(_cert_bundle(no_sign), no_sign.pem(no_sign.root), at_time=NOW)


def test_x509_tampered_payload_and_swapped_certificate(pki: Pki) -> None:
    obj = _obj(_cert_bundle(pki))
    obj["dsseEnvelope"]["payload"] = dsse.b64encode(
        st.build_statement([(GOLDEN_SUBJECT, {"sha256": OTHER_HEX})], "signature", {})
    )
    chain = [pki.pem(pki.intermediate)]
    with pytest.raises(SignatureError, match="does not verify"):
        bundle.verify_with_ca(canonical.dumps(obj), pki.pem(pki.root), chain, at_time=NOW)
    # A certificate from the same CA but for another key does not vouch for this signature.
    sibling = make_pki()
    obj = _obj(_cert_bundle(sibling))
    obj["verificationMaterial"]["certificate"]["rawBytes"] = dsse.b64encode(pki.leaf_der)
    with pytest.raises(SignatureError, match="does not verify"):
        bundle.verify_with_ca(canonical.dumps(obj), pki.pem(pki.root), chain, at_time=NOW)


def test_x509_usage_errors(pki: Pki) -> None:
    with pytest.raises(UsageError, match="another key"):
        bundle.sign_statement(STATEMENT, keys.generate(), cert_der=pki.leaf_der)
    with pytest.raises(UsageError, match="DER"):
        bundle.sign_statement(STATEMENT, pki.leaf_key, cert_der=b"junk")
    signed = _cert_bundle(pki)
    with pytest.raises(UsageError, match="timezone-aware"):
        bundle.verify_with_ca(signed, pki.pem(pki.root), at_time=dt.datetime(2026, 6, 1))
    with pytest.raises(UsageError, match="CA bundle"):
        bundle.verify_with_ca(signed, b"junk", at_time=NOW)
    with pytest.raises(SignatureError, match="no certificate"):
        bundle.verify_with_ca(bundle.sign_statement(STATEMENT, pki.leaf_key), pki.pem(pki.root), at_time=NOW)
