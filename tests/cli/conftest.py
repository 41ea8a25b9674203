"""Fixtures for the CLI tests: the CLI in-process (click's CliRunner) against an isolated store, a
private docker config, and a repository name per test on the shared real registry."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from modelcrate.cli.main import cli
from tests.support.markers import mark_registry_tests

PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_registry_tests(items, Path(__file__).parent)


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    return "cli/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:90]


@pytest.fixture
def mc(home: Path, docker_config: Path, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the CLI in-process in ``tmp_path``; the key password is in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELCRATE_KEY_PASSWORD", PASSWORD)
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "CI"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        assert PASSWORD not in result.output and PASSWORD not in (result.stderr or "")
        return result

    return run
