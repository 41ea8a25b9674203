"""Shared fixtures: an isolated store per test, the example model, and the installed CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelcrate.content.layout import LocalStore
from modelcrate.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tiny-classifier"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private MODELCRATE_HOME; SOURCE_DATE_EPOCH cleared so tests control it."""
    path = tmp_path / "home"
    monkeypatch.setenv("MODELCRATE_HOME", str(path))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home)


@pytest.fixture
def store(home: Path) -> LocalStore:
    return LocalStore(home)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A private copy of examples/tiny-classifier."""
    dest = tmp_path / "tiny-classifier"
    shutil.copytree(EXAMPLE, dest)
    return dest


def cli_path() -> str:
    exe = Path(sys.executable).with_name("modelcrate")
    found = str(exe) if exe.exists() else shutil.which("modelcrate")
    if not found:
        pytest.fail("the modelcrate console script is not installed (pip install -e .)")
    return found


@pytest.fixture
def run_cli(home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``modelcrate`` console script in a subprocess, as a user would."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "MODELCRATE_HOME": str(home), **(env or {})}
        return subprocess.run([cli_path(), *args], capture_output=True, text=True, input=input, env=full_env,
                              cwd=cwd, timeout=120)

    return run


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty DOCKER_CONFIG directory (the user's real one is never touched)."""
    path = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    return path
