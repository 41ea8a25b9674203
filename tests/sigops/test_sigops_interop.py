"""The OMS file written by ``unpack --model-signature`` passes the PyPI ``model_signing`` verifier."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelcrate import api, signatures
from modelcrate.settings import Settings
from modelcrate.signing import keys
from tests.signing.conftest import make_pki

from .conftest import CREATED, cert_signer, pem

pytestmark = pytest.mark.interop


@pytest.fixture(autouse=True)
def _needs_model_signing() -> None:
    """Skipped without the verifier locally; under CI=true (which installs the test extra) it must be there."""
    if importlib.util.find_spec("model_signing") is None:
        message = "model_signing is not installed (pip install model-signing pyOpenSSL)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _model_signing(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "model_signing", "verify", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def _unpack_with_signature(home: Path, ref: str, out: Path) -> Path:
    signature = out.with_name(out.name + ".sig")
    settings = Settings(home)
    found = api.model_signature(ref, settings)
    api.unpack(ref, out, config=settings)
    signatures.save_model_signature(found, signature)
    return signature


def test_model_signing_verifies_key_signed_unpack(packed, home: Path, tmp_path: Path) -> None:
    repo, desc = packed("team/ms:1.0", files={"model.safetensors": bytes(range(256)) * 40, "config.json": b"{}",
                                              "tokenizer/vocab.txt": b"a\nb\n", "tokenizer/sub/m.txt": b"x"},
                        archive=("tokenizer",))
    key = keys.generate("ecdsa-p256")
    result = signatures.sign(repo, desc, repo.name, signatures.KeySigner(key), created=CREATED)
    assert any("tokenizer" in note for note in result.notes)
    (tmp_path / "key.pub").write_bytes(keys.public_pem(key))
    out = tmp_path / "serving"
    signature = _unpack_with_signature(home, "team/ms:1.0", out)
    assert (out / "tokenizer" / "vocab.txt").exists()  # unpacked, and left out of the OMS bundle on purpose
    verified = _model_signing("key", "--signature", str(signature), "--public_key", str(tmp_path / "key.pub"),
                              str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    (out / "model.safetensors").write_bytes(b"tampered")
    tampered = _model_signing("key", "--signature", str(signature), "--public_key", str(tmp_path / "key.pub"),
                              str(out))
    assert tampered.returncode != 0


def test_model_signing_verifies_certificate_signed_unpack(model, home: Path, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    pki = make_pki(leaf_not_before=now - dt.timedelta(hours=1), leaf_not_after=now + dt.timedelta(days=1))
    repo, desc = model
    signatures.sign(repo, desc, repo.name, cert_signer(pki), created=CREATED)
    (tmp_path / "root.pem").write_bytes(pem(pki.root))
    out = tmp_path / "cert-model"
    signature = _unpack_with_signature(home, "team/m:1.0", out)
    verified = _model_signing("certificate", "--signature", str(signature), "--certificate_chain",
                              str(tmp_path / "root.pem"), str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
