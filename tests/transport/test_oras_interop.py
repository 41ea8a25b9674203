"""oras-py, an independent OCI client, and modelcrate read each other's artifacts on a real registry:2.

oras-py is a test dependency only (the ``test`` extra); modelcrate never imports it. Skipped where it is
missing, except under CI=true, where a missing tool fails.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import modelcrate
from modelcrate.config import Config
from modelcrate.content.layout import LocalStore
from modelcrate.content.remote import RemoteSettings
from modelcrate.content.verify import read_all
from modelcrate.format.descriptor import parse_manifest
from tests.support.registry import RegistryProcess
from tests.transport.conftest import model_files, sha, write_model

pytestmark = pytest.mark.interop

# oras-py runs in a child process: its own warnings and prints stay out of this test run.
ORAS = """
import sys
from oras.client import OrasClient
verb, host, target, arg = sys.argv[1:5]
client = OrasClient(hostname=host, insecure=True)
if verb == "push":
    client.push(target=target, files=[arg], quiet=True)
else:
    client.pull(target=target, outdir=arg)
"""


def oras(verb: str, host: str, target: str, arg: Path, cwd: Path) -> None:
    if importlib.util.find_spec("oras") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("oras-py is not installed (it is in the test extra)")
        pytest.skip("oras-py is not installed (pip install -e '.[test]')")
    done = subprocess.run([sys.executable, "-c", ORAS, verb, host, target, str(arg)], capture_output=True,
                          timeout=120, cwd=cwd)
    assert done.returncode == 0, done.stderr.decode(errors="replace")


@pytest.fixture
def config(tmp_path: Path, remote: RemoteSettings) -> Config:
    return Config(tmp_path / "home", remote=remote)


def test_oras_py_pulls_what_modelcrate_pushed(registry: RegistryProcess, repo: str, tmp_path: Path,
                                              config: Config) -> None:
    model = write_model(tmp_path / "m", {"model.safetensors": os.urandom(300_000), "config.json": b'{"a": 1}'})
    ref = f"{registry.host}/{repo}:1"
    pushed = modelcrate.push(ref, model, config=config)
    out = tmp_path / "oras-out"
    out.mkdir()
    oras("pull", registry.host, ref, out, tmp_path)
    # oras-py names each layer file by its title annotation: the model's files come back byte for byte.
    assert model_files(out) == model_files(model)
    assert pushed.digest.startswith("sha256:")


def test_modelcrate_pulls_what_oras_py_pushed(registry: RegistryProcess, repo: str, tmp_path: Path,
                                              config: Config) -> None:
    data = os.urandom(200_000)
    work = tmp_path / "work"
    work.mkdir()
    (work / "weights.bin").write_bytes(data)
    ref = f"{registry.host}/{repo}:1"
    oras("push", registry.host, ref, Path("weights.bin"), work)
    pulled = modelcrate.pull(ref, config=config)
    # The artifact is not a ModelPack model, but the graph copy moves it verified, byte for byte.
    repo_ = LocalStore(config.home).repository(f"{registry.host}/{repo}")
    root = repo_.resolve("1")
    assert root.digest == pulled.digest
    with repo_.fetch(root) as f:
        manifest = parse_manifest(read_all(f, root, 1 << 20))
    (layer,) = manifest.layers
    assert layer.digest == sha(data) and layer.annotation("org.opencontainers.image.title") == "weights.bin"
    with repo_.fetch(layer) as f:
        assert read_all(f, layer, 1 << 20) == data
