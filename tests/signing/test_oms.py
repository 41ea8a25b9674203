"""OpenSSF model-signing (OMS v1.0): recorded vectors, byte-exact statements, schema, interop."""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

from modelcrate.errors import SignatureError, UsageError
from modelcrate.format import canonical
from modelcrate.signing import bundle, dsse, keys, oms

from .conftest import NOW, OMS, OMS_KEYS, Pki, model_files

ELLIPTIC = OMS / "v1.1.0-elliptic-key"
# The order model-signing v1.1.0 recorded in that vector (its own order comes from a Python set).
VECTOR_IGNORE = [".git", "model.sig", "ignore-me", ".gitattributes", ".gitignore", ".github"]
SCHEMAS = OMS / "oms-spec-v1.0" / "schemas"
VECTORS = OMS / "oms-spec-v1.0" / "test-vectors"


@pytest.fixture(scope="module")
def public_key() -> keys.PublicKey:
    return keys.load_public_key((OMS_KEYS / "signing-key-pub.pem").read_bytes())


@pytest.fixture(scope="module")
def private_key() -> keys.PrivateKey:
    return keys.load_private_key((OMS_KEYS / "signing-key.pem").read_bytes())


def _payload(bundle_bytes: bytes) -> bytes:
    return base64.b64decode(json.loads(bundle_bytes)["dsseEnvelope"]["payload"])


# --- the recorded vectors --------------------------------------------------------------------------


def test_statement_reproduces_the_v110_vector_byte_for_byte() -> None:
    files = model_files(ELLIPTIC)  # includes the empty ignore-me, which the ignore list drops
    built = oms.build_oms_statement(files, model_name="v1.1.0-elliptic-key", ignore_paths=VECTOR_IGNORE)
    assert built == _payload((ELLIPTIC / "model.sig").read_bytes())


def test_recorded_key_vector_verifies(public_key: keys.PublicKey) -> None:
    oms.verify_oms((ELLIPTIC / "model.sig").read_bytes(), public_key, model_files(ELLIPTIC))


def test_recorded_v101_vector_verifies(public_key: keys.PublicKey) -> None:
    # v1.0.1 recorded no ignore_paths; like model-signing we must be told to leave ignore-me out.
    vector = OMS / "v1.0.1-elliptic-key"
    data = (vector / "model.sig").read_bytes()
    oms.verify_oms(data, public_key, model_files(vector, "signme-1", "signme-2"))
    oms.verify_oms(data, public_key, model_files(vector), ignore_unsigned_files=True)
    with pytest.raises(SignatureError, match="not signed: ignore-me"):
        oms.verify_oms(data, public_key, model_files(vector))


def test_recorded_certificate_vector_verifies() -> None:
    vector = OMS / "v1.1.0-certificate"
    leaf = oms.verify_oms_with_ca(
        (vector / "model.sig").read_bytes(), (OMS_KEYS / "ca-cert.pem").read_bytes(), model_files(vector), at_time=NOW
    )
    assert leaf.subject.rfc4514_string() == "CN=intermediate-ca"


def test_spec_key_vector_verifies(public_key: keys.PublicKey) -> None:
    # Same file digests as v1.1.0-elliptic-key, subject name "model", model.sig not ignored.
    data = (VECTORS / "valid" / "key.bundle.json").read_bytes()
    oms.verify_oms(data, public_key, model_files(ELLIPTIC, "signme-1", "signme-2"))


@pytest.mark.parametrize(
    "files, reason",
    [
        ([("signme-1", "0" * 64), ("signme-2", None)], "differ from what was signed: signme-1"),
        ([("signme-1", None)], "missing signed files: signme-2"),
        ([("signme-1", None), ("signme-2", None), ("extra.bin", "1" * 64)], "not signed: extra.bin"),
    ],
)
def test_file_differences_fail(public_key: keys.PublicKey, files: list, reason: str) -> None:
    actual = dict(model_files(ELLIPTIC, "signme-1", "signme-2"))
    files = [(name, digest or actual[name]) for name, digest in files]
    with pytest.raises(SignatureError, match=reason):
        oms.verify_oms((ELLIPTIC / "model.sig").read_bytes(), public_key, files)


def test_ignored_and_default_paths_are_left_out(public_key: keys.PublicKey) -> None:
    files = model_files(ELLIPTIC) + [(".git/config", "1" * 64), (".github/ci.yml", "2" * 64), ("model.sig", "3" * 64)]
    oms.verify_oms((ELLIPTIC / "model.sig").read_bytes(), public_key, files)


def test_wrong_key_and_wrong_predicate(public_key: keys.PublicKey) -> None:
    with pytest.raises(SignatureError, match="does not verify"):
        oms.verify_oms((ELLIPTIC / "model.sig").read_bytes(), keys.generate("ecdsa-p384").public_key(),
                       model_files(ELLIPTIC))
    with pytest.raises(SignatureError, match="predicate type"):
        oms.check_oms_statement(_payload((VECTORS / "invalid-payload" / "wrong-predicate.bundle.json").read_bytes()),
                                model_files(ELLIPTIC))


def test_inconsistent_root_digest_is_refused() -> None:
    statement = json.loads(_payload((ELLIPTIC / "model.sig").read_bytes()))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    with pytest.raises(SignatureError, match="subject digest does not match"):
        oms.check_oms_statement(json.dumps(statement).encode(), model_files(ELLIPTIC))


def test_unsupported_serialisations_are_refused() -> None:
    statement = json.loads(_payload((ELLIPTIC / "model.sig").read_bytes()))
    statement["predicate"]["serialization"]["method"] = "shards"
    with pytest.raises(SignatureError, match="only 'files'"):
        oms.check_oms_statement(json.dumps(statement).encode(), model_files(ELLIPTIC))
    statement["predicate"]["serialization"]["method"] = "files"
    statement["predicate"]["serialization"]["hash_type"] = "blake3"
    with pytest.raises(SignatureError, match="only sha256"):
        oms.check_oms_statement(json.dumps(statement).encode(), model_files(ELLIPTIC))


# --- our own bundles -------------------------------------------------------------------------------


def test_sign_fresh_and_verify(private_key: keys.PrivateKey, public_key: keys.PublicKey) -> None:
    files = model_files(ELLIPTIC)
    signed = oms.sign_oms(files, private_key, model_name="demo", ignore_paths=["model.sig", "ignore-me"])
    obj = json.loads(signed)
    assert obj["verificationMaterial"] == {"publicKey": {"hint": keys.key_hint(public_key)}, "tlogEntries": []}
    assert signed == canonical.dumps(obj)
    oms.verify_oms(signed, public_key, files)
    statement = json.loads(_payload(signed))
    assert statement["subject"][0] == {
        "name": "demo", "digest": {"sha256": "92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4"}
    }
    assert statement["predicate"]["serialization"]["ignore_paths"] == [
        "model.sig", "ignore-me", ".git", ".gitattributes", ".github", ".gitignore"
    ]


def test_sign_with_certificate_chain(private_key: keys.PrivateKey) -> None:
    der = [
        x509.load_pem_x509_certificate((OMS_KEYS / name).read_bytes()).public_bytes(serialization.Encoding.DER)
        for name in ("signing-key-cert.pem", "int-ca-cert.pem")
    ]
    files = model_files(ELLIPTIC, "signme-1", "signme-2")
    signed = oms.sign_oms(files, private_key, model_name="demo", cert_chain_der=der)
    chain = json.loads(signed)["verificationMaterial"]["x509CertificateChain"]["certificates"]
    assert [base64.b64decode(c["rawBytes"]) for c in chain] == der
    oms.verify_oms_with_ca(signed, (OMS_KEYS / "ca-cert.pem").read_bytes(), files, at_time=NOW)
    _validate_oms_bundle(signed)


def test_sign_with_own_pki(pki: Pki) -> None:
    files = [("weights.safetensors", "a" * 64)]
    assert pki.intermediate is not None
    der = [pki.leaf_der, pki.intermediate.public_bytes(serialization.Encoding.DER)]
    signed = oms.sign_oms(files, pki.leaf_key, model_name="m", cert_chain_der=der)
    oms.verify_oms_with_ca(signed, pki.pem(pki.root), files, at_time=NOW)
    with pytest.raises(SignatureError, match="differ"):
        oms.verify_oms_with_ca(signed, pki.pem(pki.root), [("weights.safetensors", "b" * 64)], at_time=NOW)


def test_statement_serialisation_details() -> None:
    built = oms.build_oms_statement([("b/é.bin", "1" * 64), ("a.bin", "2" * 64)], model_name="módel")
    assert built.isascii()  # model-signing escapes non-ASCII, as protobuf's MessageToJson does
    statement = json.loads(built)
    assert [r["name"] for r in statement["predicate"]["resources"]] == ["a.bin", "b/é.bin"]
    assert statement["subject"][0]["name"] == "módel"
    assert not built.endswith(b"\n")


@pytest.mark.parametrize(
    "files, kwargs, reason",
    [
        ([], {}, "at least one file"),
        ([(".git/HEAD", "1" * 64)], {}, "at least one file"),
        ([("/abs", "1" * 64)], {}, "canonical relative"),
        ([("a/../b", "1" * 64)], {}, "canonical relative"),
        ([("a//b", "1" * 64)], {}, "canonical relative"),
        ([("./a", "1" * 64)], {}, "canonical relative"),
        ([("a/", "1" * 64)], {}, "canonical relative"),
        ([("a", "1" * 64), ("a", "2" * 64)], {}, "listed twice"),
        ([("a", "ABC")], {}, "SHA-256 hex"),
        ([("a", "1" * 64)], {"ignore_paths": ["*.tmp"]}, "glob"),
        ([("a", "1" * 64)], {"model_name": ""}, "model name"),
        ([("bad\udcff", "1" * 64)], {}, "UTF-8"),
    ],
)
def test_build_refuses(files: list, kwargs: dict, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        oms.build_oms_statement(files, **({"model_name": "m"} | kwargs))


def test_oms_signing_needs_an_ec_key() -> None:
    with pytest.raises(UsageError, match="ECDSA"):
        oms.sign_oms([("a", "1" * 64)], keys.generate("ed25519"), model_name="m")


# --- schemas ---------------------------------------------------------------------------------------


def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")}
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return (
        Draft202012Validator(schemas["bundle.schema.json"], registry=registry),
        Draft202012Validator(schemas["statement.schema.json"], registry=registry),
    )


def _validate_oms_bundle(data: bytes) -> None:
    bundle_validator, statement_validator = _validators()
    bundle_validator.validate(json.loads(data))
    statement_validator.validate(json.loads(_payload(data)))


@pytest.mark.parametrize("name", sorted(p.name for p in (VECTORS / "valid").iterdir()))
def test_schema_setup_accepts_the_valid_vectors(name: str) -> None:
    _validate_oms_bundle((VECTORS / "valid" / name).read_bytes())


@pytest.mark.parametrize("name", sorted(p.name for p in (VECTORS / "invalid").iterdir()))
def test_schema_setup_rejects_the_invalid_vectors(name: str) -> None:
    with pytest.raises((ValidationError, ValueError)):
        _validate_oms_bundle((VECTORS / "invalid" / name).read_bytes())


def test_our_bundles_pass_the_schemas(private_key: keys.PrivateKey) -> None:
    signed = oms.sign_oms(model_files(ELLIPTIC), private_key, model_name="demo", ignore_paths=["model.sig"])
    _validate_oms_bundle(signed)
    # And the DSSE layer is what the envelope schema expects from a producer: keyid "" and one signature.
    envelope = dsse.Envelope.from_dict(json.loads(signed)["dsseEnvelope"])
    assert len(envelope.signatures) == 1 and envelope.payload_type == dsse.INTOTO_PAYLOAD_TYPE
    assert bundle.unverified_statement_of(signed) == envelope.payload


# --- interop with PyPI model-signing -------------------------------------------------------------

needs_model_signing = pytest.mark.skipif(
    importlib.util.find_spec("model_signing") is None, reason="pip install model-signing pyOpenSSL"
)


def _model_signing(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_signing", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "tiny-model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_bytes(b'{"layers": 2}\n')
    (model / "sub" / "weights.bin").write_bytes(bytes(range(256)) * 64)
    return model


def _walk(model: Path) -> list[tuple[str, str]]:
    from .conftest import sha256_file

    return [(p.relative_to(model).as_posix(), sha256_file(p)) for p in sorted(model.rglob("*")) if p.is_file()]


@pytest.mark.interop
@pytest.mark.slow
@needs_model_signing
def test_model_signing_verifies_our_bundle(tmp_path: Path, private_key: keys.PrivateKey) -> None:
    model = _model_dir(tmp_path)
    signed = oms.sign_oms(_walk(model), private_key, model_name=model.name, ignore_paths=["model.sig"])
    (model / "model.sig").write_bytes(signed)
    result = _model_signing("verify", "key", "--signature", str(model / "model.sig"),
                            "--public_key", str(OMS_KEYS / "signing-key-pub.pem"), str(model))
    assert result.returncode == 0, result.stdout + result.stderr
    (model / "sub" / "weights.bin").write_bytes(b"tampered")
    result = _model_signing("verify", "key", "--signature", str(model / "model.sig"),
                            "--public_key", str(OMS_KEYS / "signing-key-pub.pem"), str(model))
    assert result.returncode != 0


@pytest.mark.interop
@pytest.mark.slow
@needs_model_signing
def test_we_verify_model_signing_output(tmp_path: Path, public_key: keys.PublicKey) -> None:
    model = _model_dir(tmp_path)
    signature = tmp_path / "model.sig"
    result = _model_signing("sign", "key", "--signature", str(signature),
                            "--private_key", str(OMS_KEYS / "signing-key.pem"), str(model))
    assert result.returncode == 0, result.stdout + result.stderr
    oms.verify_oms(signature.read_bytes(), public_key, _walk(model))
    _validate_oms_bundle(signature.read_bytes())
    # Its statement is exactly what we would build, up to model-signing's own key and ignore-path order.
    ours = json.loads(oms.build_oms_statement(_walk(model), model_name=model.name))
    theirs = json.loads(_payload(signature.read_bytes()))
    for statement in (ours, theirs):
        statement["predicate"]["serialization"]["ignore_paths"] = sorted(
            statement["predicate"]["serialization"].get("ignore_paths", [])
        )
    theirs["predicate"]["serialization"]["ignore_paths"] = [
        p for p in theirs["predicate"]["serialization"]["ignore_paths"] if p != "model.sig"
    ]
    assert ours == theirs

