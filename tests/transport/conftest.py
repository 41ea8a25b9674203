"""Fixtures for the registry transport tests: settings with fast retries, models to push, helpers.

The registries themselves come from tests/support/fixtures.py (session-scoped, real ``docker-registry``
2.8.2 processes; ``require_registry`` fails these tests under CI=true instead of skipping them).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from modelcrate import api
from modelcrate.content.remote import RegistryClient, RemoteSettings, RetryPolicy, Timeout
from modelcrate.settings import Settings
from tests.support.artifacts import write_model  # noqa: F401  (tests import it from here)
from tests.support.registry import RegistryProcess
from tests.support.markers import mark_registry_tests

# Backoff in milliseconds: retries are exercised, not waited for (Retry-After is still honoured).
FAST_RETRY = RetryPolicy(attempts=4, backoff=0.02, cap=0.1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_registry_tests(items, Path(__file__).parent)


@pytest.fixture
def remote(docker_config: Path) -> RemoteSettings:
    return RemoteSettings(docker_config=docker_config, retry=FAST_RETRY, timeout=Timeout(connect=5, read=20))


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name unique to the test (the session registry is shared)."""
    return "t/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:100]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A small model: two weight files (one spans several upload chunks in the tests that set a small
    chunk size), a config and code."""
    return write_model(tmp_path / "model", {
        "model.safetensors": os.urandom(300_000),
        "extra.bin": os.urandom(40_000),
        "config.json": b'{"hidden": 8}',
        "predict.py": b"print('hi')\n",
    })


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def model_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree(root).items() if k != "modelcrate.yaml"}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def pack_for(settings: Settings) -> Callable[[Path, str], str]:
    """Pack a directory into the test's local store under a registry reference; return the digest."""

    def pack(directory: Path, ref: str) -> str:
        return api.pack(directory, ref, config=settings).descriptor.digest

    return pack


@pytest.fixture
def fresh_settings(tmp_path: Path) -> Settings:
    """A second, empty local store (the "other machine" of a round trip)."""
    return Settings(tmp_path / "other-home")


def client_for(reg: RegistryProcess | str, remote: RemoteSettings, **changes: object) -> RegistryClient:
    host = reg if isinstance(reg, str) else reg.host
    return RegistryClient(host, replace(remote, **changes) if changes else remote)
