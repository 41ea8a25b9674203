"""Graphs a pusher shapes: a chain of nested indexes far deeper than any model, and a manifest tagged as
its own cosign ``.sig``. pull and copy end with one clear line (or succeed), never a RecursionError."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelcrate.cli.main import cli
from modelcrate.content.referrers import cosign_signature_tag
from modelcrate.content.remote import RegistryClient, RemoteSettings
from modelcrate.format.descriptor import Descriptor, build_index
from modelcrate.format.mediatypes import OCI_INDEX
from tests.support.artifacts import Layer, put_model
from tests.support.registry import RegistryProcess

from tests.transport.conftest import FAST_RETRY

DEPTH = 1200


def _run(home: Path, *args: str):
    return CliRunner().invoke(cli, list(args), env={"MODELCRATE_HOME": str(home)})


@pytest.fixture
def client(registry: RegistryProcess, docker_config: Path):
    c = RegistryClient(registry.host, RemoteSettings(docker_config=docker_config, retry=FAST_RETRY))
    yield c
    c.close()


def test_deep_index_chain_is_refused_not_a_crash(client: RegistryClient, registry: RegistryProcess,
                                                 tmp_path: Path) -> None:
    repo = client.repository("hostile/deep", push=True)
    below = put_model(repo, [Layer("w.bin", b"w")], tag="base")
    for _ in range(DEPTH):
        raw = build_index([below])
        below = Descriptor.of(OCI_INDEX, raw)
        repo.push(below, io.BytesIO(raw))
    repo.tag(below, "deep")
    for args in (["pull", f"{registry.host}/hostile/deep:deep"],
                 ["copy", f"{registry.host}/hostile/deep:deep", f"{registry.host}/hostile/deep-copy:1"]):
        r = _run(tmp_path / "home", *args)
        assert r.exit_code not in (0, 70), r.output
        assert "nested more than" in r.output and "Traceback" not in r.output
        assert len(r.output.strip().splitlines()) == 1, r.output


def test_manifest_tagged_as_its_own_sig(client: RegistryClient, registry: RegistryProcess, tmp_path: Path) -> None:
    repo = client.repository("hostile/selfsig", push=True)
    desc = put_model(repo, [Layer("w.bin", b"weights")], tag="1")
    repo.tag(desc, cosign_signature_tag(desc.digest))
    pulled = _run(tmp_path / "home", "pull", "-q", f"{registry.host}/hostile/selfsig:1")
    assert pulled.exit_code == 0, pulled.output
    assert desc.digest in pulled.output
    copied = _run(tmp_path / "home", "copy", "-q", f"{registry.host}/hostile/selfsig:1",
                  f"{registry.host}/hostile/selfsig-copy:1")
    assert copied.exit_code == 0, copied.output
