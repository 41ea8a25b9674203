"""Fixtures for the signing operations tests: packed models, signers, verifiers, a throw-away PKI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from modelcrate import api, signatures
from modelcrate.content.layout import LocalRepository, LocalStore
from modelcrate.format.descriptor import Descriptor
from modelcrate.settings import Settings
from modelcrate.signing import keys
from tests.signing.conftest import Pki, make_pki
from tests.support.artifacts import write_model

UTC = dt.UTC
CREATED = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def packed(tmp_path: Path, home: Path) -> Callable[..., tuple[LocalRepository, Descriptor]]:
    """``packed(ref, files=..., archive=...)`` packs a small model into the test's store."""
    counter = iter(range(1000))

    def make(ref: str = "team/m:1.0", files: dict[str, bytes] | None = None,
             archive: tuple[str, ...] = ()) -> tuple[LocalRepository, Descriptor]:
        files = files or {"model.safetensors": b"weights " * 512, "config.json": b'{"layers": 2}'}
        directory = write_model(tmp_path / f"model-{next(counter)}", files, archive=archive)
        result = api.pack(directory, ref, config=Settings(home))
        r = api.parse_local(ref)
        return LocalStore(home).repository(r.name), result.descriptor

    return make


@pytest.fixture
def model(packed: Callable[..., tuple[LocalRepository, Descriptor]]) -> tuple[LocalRepository, Descriptor]:
    return packed()


@pytest.fixture(scope="session")
def ec_key() -> keys.PrivateKey:
    return keys.generate("ecdsa-p256")


@pytest.fixture(scope="session")
def other_key() -> keys.PrivateKey:
    return keys.generate("ecdsa-p256")


@pytest.fixture(scope="session")
def pki_chain() -> Pki:
    return make_pki()


def pem(cert) -> bytes:  # type: ignore[no-untyped-def]
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_signer(pki: Pki) -> signatures.KeySigner:
    key_pem = keys.private_pem(pki.leaf_key, b"pw")
    chain = pem(pki.intermediate) if pki.intermediate is not None else None
    return signatures.KeySigner.from_pem(key_pem, b"pw", cert=pem(pki.leaf), chain=chain)


@pytest.fixture
def sigstore_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sigstore-python wants writable cache/data directories; keep them inside the test's tmp dir."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
