"""A port that answers HTTP but not the distribution API is named for what it is; Docker Hub names map as
docker maps them (checked without contacting it); ``push REF DIR`` says the arguments are reversed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelcrate.cli.main import cli
from modelcrate.content.remote import RegistryClient, RemoteSettings
from modelcrate.format.reference import Reference, registry_endpoint
from tests.support.artifacts import write_model
from tests.support.registry import RegistryProcess
from tests.transport.scripted import Scripted


@pytest.fixture
def web_server():
    """A plain web server: 404 for every GET, 501 for POST (http.server's own answer)."""
    server = Scripted()
    server.routes["/"] = lambda req: (200, {"Content-Type": "text/html"}, b"<html>hello</html>")
    yield server
    server.close()


def _run(home: Path, *args: str):
    return CliRunner().invoke(cli, list(args), env={"MODELCRATE_HOME": str(home)})


def test_pull_and_push_to_a_web_server_say_it_is_not_a_registry(web_server: Scripted, tmp_path: Path) -> None:
    pulled = _run(tmp_path / "home", "pull", f"{web_server.host}/team/m:1")
    assert pulled.exit_code == 1, pulled.output
    assert f"{web_server.host} is not an OCI registry" in pulled.output
    assert sum(1 for _m, p, _h in web_server.seen if p == "/v2/") == 1  # asked once
    model = write_model(tmp_path / "m", {"w.bin": b"weights"})
    pushed = _run(tmp_path / "home", "push", "-q", str(model), f"{web_server.host}/team/m:1")
    assert pushed.exit_code == 1, pushed.output
    assert f"{web_server.host} is not an OCI registry" in pushed.output and "try again later" not in pushed.output


def test_a_real_registry_still_says_not_found(registry: RegistryProcess, tmp_path: Path) -> None:
    r = _run(tmp_path / "home", "pull", f"{registry.host}/team/missing:1")
    assert r.exit_code == 3 and "not found" in r.output and "not an OCI registry" not in r.output


def test_reversed_push_arguments_are_named(registry: RegistryProcess, tmp_path: Path) -> None:
    model = write_model(tmp_path / "m", {"w.bin": b"weights"})
    r = _run(tmp_path / "home", "push", f"{registry.host}/team/m:1", str(model))
    assert r.exit_code == 2 and "the arguments are reversed" in r.output, r.output


@pytest.mark.parametrize(("text", "repository"), [
    ("docker.io/library/x:1", "library/x"), ("docker.io/x:1", "library/x"), ("index.docker.io/x:1", "library/x"),
    ("docker.io/team/x:1", "team/x"),
])
def test_docker_hub_names_map_as_docker_maps_them(text: str, repository: str) -> None:
    r = Reference.parse(text)
    assert (r.registry, r.repository, str(r)) == ("docker.io", repository, f"docker.io/{repository}:1")
    assert registry_endpoint(r.registry) == "registry-1.docker.io"
    client = RegistryClient(r.registry, RemoteSettings())  # connects lazily: nothing is contacted here
    assert client.url("/v2/") == "https://registry-1.docker.io:443/v2/" and client.registry == "docker.io"
    client.close()


def test_other_registries_keep_their_names() -> None:
    r = Reference.parse("localhost:5000/x:1")
    assert (r.registry, r.repository, registry_endpoint("localhost:5000")) == ("localhost:5000", "x", "localhost:5000")
