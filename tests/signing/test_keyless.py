"""Keyless Sigstore verification, offline, of recorded bundles; keyless signing error handling."""

from __future__ import annotations

import json
import os

import pytest

from modelcrate.errors import SignatureError, UsageError
from modelcrate.signing import bundle, oms
from modelcrate.signing import statement as st

from .conftest import OMS, SIGSTORE, model_files

pytestmark = pytest.mark.usefixtures("sigstore_dirs")

INDEX = json.loads((SIGSTORE / "index.json").read_text())["bundles"]
STAGING = SIGSTORE / "trust-roots" / "staging" / "trusted_root.json"
PRODUCTION = SIGSTORE / "trust-roots" / "production" / "trusted_root.json"


def _ids(entry: dict) -> str:
    return entry["bundle"]


def _verify(entry: dict, *, identity: str | None = None, issuer: str | None = None, root=None) -> bytes | None:
    data = (SIGSTORE / entry["bundle"]).read_bytes()
    identity = identity if identity is not None else (entry.get("identity_san") or ["nobody@example.com"])[0]
    issuer = issuer if issuer is not None else (entry.get("oidc_issuer") or "https://issuer.example")
    root = root or SIGSTORE / entry["trust_root"]
    if entry["operation"] == "verify_dsse":
        return bundle.verify_keyless(data, identity=identity, issuer=issuer, trusted_root_path=root)
    artifact = (SIGSTORE / entry["artifact"]).read_bytes()
    bundle.verify_keyless_artifact(data, artifact, identity=identity, issuer=issuer, trusted_root_path=root)
    return None


VALID = [e for e in INDEX if e["expect_valid"]]
INVALID = [e for e in INDEX if not e["expect_valid"]]


@pytest.mark.parametrize("entry", VALID, ids=_ids)
def test_recorded_valid_bundles_verify(entry: dict) -> None:
    assert entry["trust_root"].endswith("staging/trusted_root.json")
    result = _verify(entry)
    if entry["operation"] == "verify_dsse":
        parsed = st.parse_statement(result or b"", require_predicate=False)
        assert parsed.predicate_type == st.SLSA_PROVENANCE_V1
        st.check_statement(result or b"", digest="sha256:" + parsed.subjects[0].digest["sha256"], name="a.txt")


@pytest.mark.parametrize("entry", INVALID, ids=_ids)
def test_recorded_invalid_bundles_fail(entry: dict) -> None:
    # "load" cases must already fail when the bundle is read, the others during verification.
    reason = "not a valid Sigstore bundle" if entry["operation"] == "load" else "keyless verification failed"
    with pytest.raises(SignatureError, match=reason):
        _verify(entry)


@pytest.mark.parametrize("entry", VALID, ids=_ids)
def test_wrong_identity_fails(entry: dict) -> None:
    with pytest.raises(SignatureError, match="SANs do not match"):
        _verify(entry, identity="mallory@example.com")


@pytest.mark.parametrize("entry", VALID, ids=_ids)
def test_wrong_issuer_fails(entry: dict) -> None:
    with pytest.raises(SignatureError, match="keyless verification failed"):
        _verify(entry, issuer="https://accounts.google.com")


@pytest.mark.parametrize("entry", VALID, ids=_ids)
def test_wrong_trust_root_fails(entry: dict) -> None:
    with pytest.raises(SignatureError):
        _verify(entry, root=PRODUCTION)


def test_wrong_artifact_fails() -> None:
    entry = next(e for e in VALID if e["bundle"] == "valid/bundle_v3.txt.sigstore")
    with pytest.raises(SignatureError):
        bundle.verify_keyless_artifact(
            (SIGSTORE / entry["bundle"]).read_bytes(), (SIGSTORE / "valid" / "bundle_v3_alt.txt").read_bytes(),
            identity=entry["identity_san"][0], issuer=entry["oidc_issuer"], trusted_root_path=STAGING,
        )


def test_message_signature_bundle_is_not_an_attestation() -> None:
    entry = next(e for e in VALID if e["operation"] == "verify_artifact")
    with pytest.raises(SignatureError, match="DSSE"):
        bundle.verify_keyless((SIGSTORE / entry["bundle"]).read_bytes(), identity=entry["identity_san"][0],
                              issuer=entry["oidc_issuer"], trusted_root_path=STAGING)


def test_identity_and_issuer_are_both_required() -> None:
    data = (SIGSTORE / VALID[0]["bundle"]).read_bytes()
    with pytest.raises(UsageError, match="identity and the OIDC issuer"):
        bundle.verify_keyless(data, identity="a@tny.town", issuer="", trusted_root_path=STAGING)


def test_bad_inputs() -> None:
    data = (SIGSTORE / VALID[0]["bundle"]).read_bytes()
    with pytest.raises(UsageError, match="cannot read the trusted root"):
        bundle.verify_keyless(data, identity="a", issuer="b", trusted_root_path=SIGSTORE / "missing.json")
    with pytest.raises(UsageError, match="not a Sigstore trusted_root"):
        bundle.verify_keyless(data, identity="a", issuer="b", trusted_root_path=SIGSTORE / "index.json")
    with pytest.raises(SignatureError, match="not a valid Sigstore bundle"):
        bundle.verify_keyless(b"{}", identity="a", issuer="b", trusted_root_path=STAGING)


def test_keyless_oms_vector_with_production_root() -> None:
    vector = OMS / "v1.1.0-sigstore"
    data = bundle.verify_keyless(
        (vector / "model.sig").read_bytes(), identity="stefanb@us.ibm.com",
        issuer="https://sigstore.verify.ibm.com/oauth2", trusted_root_path=PRODUCTION,
    )
    oms.check_oms_statement(data, model_files(vector))
    with pytest.raises(SignatureError):
        bundle.verify_keyless((vector / "model.sig").read_bytes(), identity="stefanb@us.ibm.com",
                              issuer="https://sigstore.verify.ibm.com/oauth2", trusted_root_path=STAGING)


# --- signing ---------------------------------------------------------------------------------------

STATEMENT = st.build_statement([("registry.example.com/m", {"sha256": "a" * 64})], "signature", {})


def test_sign_keyless_rejects_a_malformed_token_without_echoing_it() -> None:
    token = "not-a-jwt-but-secret-looking"
    with pytest.raises(SignatureError, match="identity token") as info:
        bundle.sign_keyless(STATEMENT, identity_token=token)
    assert token not in str(info.value) and info.value.__cause__ is None


def test_sign_keyless_wraps_sigstore_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stand in for the network: no request leaves this test.
    import sigstore.models
    import sigstore.oidc
    from sigstore.errors import NetworkError

    def offline(*args: object, **kwargs: object) -> None:
        raise NetworkError()

    monkeypatch.setattr(sigstore.oidc, "IdentityToken", lambda raw: object())
    monkeypatch.setattr(sigstore.models.ClientTrustConfig, "staging", classmethod(offline))
    with pytest.raises(SignatureError, match=r"keyless signing failed \(NetworkError\)") as info:
        bundle.sign_keyless(STATEMENT, identity_token="token", staging=True)
    assert "network access" in info.value.diagnostics()


def test_sign_keyless_refuses_a_non_statement() -> None:
    with pytest.raises(UsageError, match="refusing to sign"):
        bundle.sign_keyless(b"{}", identity_token="t")


@pytest.mark.online
@pytest.mark.skipif("MODELCRATE_SIGSTORE_TOKEN" not in os.environ, reason="needs network and an OIDC token")
def test_sign_keyless_online() -> None:
    signed = bundle.sign_keyless(STATEMENT, identity_token=os.environ["MODELCRATE_SIGSTORE_TOKEN"], staging=True)
    assert bundle.unverified_statement_of(signed) == STATEMENT
