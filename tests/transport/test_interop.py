"""Independent readers and writers agree with modelcrate: skopeo (Debian) and modelpack-client (PyPI).

Skipped where a tool is missing, except under CI=true, where .ci/run installs them and a missing tool fails.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from modelcrate import transfer
from modelcrate.content.remote import RemoteSettings
from modelcrate.settings import Settings
from tests.support.registry import RegistryProcess
from tests.transport.conftest import model_files, write_model

pytestmark = pytest.mark.interop


def need(tool: str, found: bool) -> None:
    if not found:
        message = f"{tool} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI installs it: see .ci/run and the test extra)")
        pytest.skip(message)


def skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    need("skopeo", shutil.which("skopeo") is not None)
    done = subprocess.run(["skopeo", *args], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done


@pytest.fixture
def tar_model(tmp_path: Path) -> Path:
    root = write_model(tmp_path / "m", {"model.safetensors": os.urandom(2_000_000), "config.json": b'{"a": 1}'})
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "vocab.txt").write_text("hello\nworld\n")
    with open(root / "modelcrate.yaml", "a") as f:
        f.write("  - {path: tokenizer, kind: weight.config, archive: true}\n")
    return root


def test_skopeo_reads_what_modelcrate_pushed_with_the_same_digest(
        registry: RegistryProcess, repo: str, tar_model: Path, settings: Settings, remote: RemoteSettings) -> None:
    pushed = transfer.push_dir(tar_model, f"{registry.host}/{repo}:1", config=settings, remote=remote)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/{repo}:1").stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == pushed.digest


def test_skopeo_copy_to_an_oci_layout_and_back_then_modelcrate_pulls_it(
        registry: RegistryProcess, repo: str, tar_model: Path, settings: Settings, remote: RemoteSettings,
        tmp_path: Path) -> None:
    pushed = transfer.push_dir(tar_model, f"{registry.host}/{repo}:1", config=settings, remote=remote)
    layout = tmp_path / "layout"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/{repo}:1", f"oci:{layout}:1")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:1", f"docker://{registry.host}/{repo}/back:1")
    out = tmp_path / "out"
    pulled = transfer.pull_to_dir(f"{registry.host}/{repo}/back:1", out, remote=remote)
    assert pulled.digest == pushed.digest
    assert model_files(out) == model_files(tar_model)


def test_modelpack_client_pulls_what_modelcrate_pushed(
        registry: RegistryProcess, repo: str, tar_model: Path, settings: Settings, remote: RemoteSettings,
        tmp_path: Path, docker_config: Path) -> None:
    need("modelpack-client (pip install modelpack-client)", importlib.util.find_spec("modelpack_client") is not None)
    from modelpack_client import ModelPackClient

    pushed = transfer.push_dir(tar_model, f"{registry.host}/{repo}:1", config=settings, remote=remote)
    out = tmp_path / "mpc"
    result = ModelPackClient(insecure=True).pull(f"{registry.host}/{repo}:1", out)
    assert model_files(out) == model_files(tar_model)  # raw layers and the tar layer, unpacked by its own rules
    assert result.config["descriptor"]["name"] == "m"
    assert [layer["digest"] for layer in result.manifest["layers"]] == [
        f.descriptor.digest for f in transfer_view(registry, repo, remote, pushed.digest)]


def transfer_view(registry: RegistryProcess, repo: str, remote: RemoteSettings, digest: str):  # noqa: ANN201
    from modelcrate.content.remote import RegistryClient
    from modelcrate.unpacking import fetch_model
    target = RegistryClient(registry.host, remote).repository(repo)
    return fetch_model(target, target.resolve(digest)).files
