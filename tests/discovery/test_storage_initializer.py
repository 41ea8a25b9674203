"""KServe's storage-initializer calling convention end to end against registry:2 (no cluster needed)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modelcrate.serving.pin import render_pin
from modelcrate.serving.storage_initializer import parse_storage_uri
from modelcrate.errors import InvalidReference
from tests.discovery.conftest import Populated
from tests.support.models import metadata, push_model

pytestmark = pytest.mark.registry
FILES = {"model.safetensors": os.urandom(3000), "config.json": b'{"a": 1}'}


def test_calling_convention(populated: Populated, run_cli, tmp_path: Path) -> None:
    client = populated.client()
    try:
        signed = push_model(client.repository("serve/model", push=True), metadata(7), ["1.0"], files=FILES)
        unsigned = push_model(client.repository("serve/unsigned", push=True), metadata(8), ["1.0"], files=FILES)
    finally:
        client.close()
    env = {"MODELCRATE_KEY_PASSWORD": "pw", "MODELCRATE_TERMINATION_LOG": str(tmp_path / "termination-log")}
    assert run_cli("keygen", env=env, cwd=tmp_path).returncode == 0
    assert run_cli("sign", f"{populated.host}/serve/model:1.0", "--key", "modelcrate.key", env=env,
                   cwd=tmp_path).returncode == 0
    (tmp_path / "policy.yaml").write_text("version: 1\nsigners: [{key: modelcrate.pub}]\n")
    env["MODELCRATE_POLICY"] = str(tmp_path / "policy.yaml")

    # refused by policy: non-zero, one line, nothing written, the reason in the termination log
    dest = tmp_path / "mnt-unsigned"
    dest.mkdir()  # KServe mounts an empty directory
    r = run_cli("storage-initializer", f"modelcrate://{populated.host}/serve/unsigned@{unsigned.digest}",
                str(dest), env=env)
    assert r.returncode == 6 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "policy" in r.stderr
    assert list(dest.iterdir()) == []
    assert (tmp_path / "termination-log").read_text().strip() == r.stderr.strip()

    # signed: every file lands, byte for byte
    dest = tmp_path / "mnt"
    dest.mkdir()
    r = run_cli("storage-initializer", f"modelcrate://{populated.host}/serve/model@{signed.digest}", str(dest),
                env=env)
    assert r.returncode == 0, r.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).digest() for p in dest.iterdir()} == \
        {k: hashlib.sha256(v).digest() for k, v in FILES.items()}

    # no policy at all: refused (fail closed) unless asked
    env.pop("MODELCRATE_POLICY")
    r = run_cli("storage-initializer", f"modelcrate://{populated.host}/serve/model@{signed.digest}",
                str(tmp_path / "x"), env=env)
    assert r.returncode == 2 and "no policy" in r.stderr and not (tmp_path / "x").exists()
    r = run_cli("storage-initializer", f"modelcrate://{populated.host}/serve/model:1.0", str(tmp_path / "x"),
                "--allow-unverified", env=env)
    assert r.returncode == 2 and "not pinned by digest" in r.stderr


@pytest.mark.parametrize("uri,words", [
    ("oci://reg.example.com/a@sha256:" + "0" * 64, "is not a modelcrate:// URI"),
    ("modelcrate://a@sha256:" + "0" * 64, "names no registry"),
    ("modelcrate://reg.example.com/a:1", "not pinned by digest"),
    ("modelcrate://reg.example.com/../a@sha256:" + "0" * 64, "invalid"),
])
def test_bad_uris(uri: str, words: str) -> None:
    with pytest.raises(InvalidReference, match=words):
        parse_storage_uri(uri)


def test_pins() -> None:
    d = "sha256:" + "a" * 64
    assert render_pin("reg.example.com/team/bert", d, "plain") == f"reg.example.com/team/bert@{d}"
    helm = render_pin("reg.example.com/team/bert", d, "helm")
    import yaml
    assert yaml.safe_load(helm) == {"model": {"storageUri": f"modelcrate://reg.example.com/team/bert@{d}", "digest": d}}
    kustomize = yaml.safe_load(render_pin("reg.example.com/team/bert", d, "kustomize", inference_service="bert"))
    assert kustomize[0]["target"] == {"kind": "InferenceService", "name": "bert"}
    import json
    assert json.loads(kustomize[0]["patch"])[0]["value"] == f"modelcrate://reg.example.com/team/bert@{d}"


def test_serving_example(populated: Populated, run_cli, tmp_path: Path, home: Path) -> None:
    """examples/serving/serve.py: stage → digest → pull under policy → read the safetensors header."""
    import json
    import subprocess
    import sys

    from tests.conftest import EXAMPLE, ROOT

    ref = f"{populated.host}/serve/example"
    env = {"MODELCRATE_KEY_PASSWORD": "pw"}
    assert run_cli("push", str(EXAMPLE), f"{ref}:1.0.0", "-q").returncode == 0
    assert run_cli("copy", f"{ref}:1.0.0", f"{ref}:production").returncode == 0
    assert run_cli("keygen", env=env, cwd=tmp_path).returncode == 0
    assert run_cli("sign", f"{ref}:1.0.0", "--key", "modelcrate.key", env=env, cwd=tmp_path).returncode == 0
    (tmp_path / "policy.yaml").write_text("version: 1\nsigners: [{key: modelcrate.pub}]\n")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "serving" / "serve.py"), ref, "production",
                        "--policy", str(tmp_path / "policy.yaml"), "--dir", str(tmp_path / "served")],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "MODELCRATE_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (tmp_path / "served" / "model.safetensors").read_bytes() == (EXAMPLE / "model.safetensors").read_bytes()
    tensors = out["tensors"]["model.safetensors"]
    assert tensors and all(set(t) == {"dtype", "shape"} for t in tensors.values())
