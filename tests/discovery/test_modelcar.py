"""export --modelcar, checked as a container runtime would: skopeo copy, umoci unpack, chroot, sh."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from modelcrate.content.referrers import list_referrers
from modelcrate.format import canonical
from modelcrate.format.descriptor import Descriptor, build_manifest
from modelcrate.format.mediatypes import OCI_MANIFEST
from modelcrate.serving.modelcar import OCI_CONFIG, host_platform, plan_layers
from tests.discovery.conftest import FAST, Populated
from tests.support.models import metadata, push_model

BUSYBOX = Path("/bin/busybox")
FILES = {"model.safetensors": os.urandom(1_500_000), "weights/part-2.bin": os.urandom(1_200_000),
         "config.json": b'{"hidden": 8}', "tokenizer/vocab.txt": b"a\nb\n", "run.sh": b"#!/bin/sh\n"}


def _tools() -> None:
    missing = [t for t in ("skopeo", "umoci", "chroot") if shutil.which(t) is None]
    if missing or not BUSYBOX.is_file():
        msg = f"needs {', '.join(missing) or 'busybox-static'} (Debian: skopeo umoci busybox-static)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")


def busybox_base(target) -> Descriptor:
    """A one-layer OCI image: /bin/busybox (Debian's static build) and /bin/sh → busybox."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo("bin")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(d)
        data = BUSYBOX.read_bytes()
        f = tarfile.TarInfo("bin/busybox")
        f.mode, f.size = 0o755, len(data)
        tar.addfile(f, io.BytesIO(data))
        s = tarfile.TarInfo("bin/sh")
        s.type, s.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(s)
    raw = buf.getvalue()
    layer = gzip.compress(raw, mtime=0)
    os_, arch = host_platform()
    config = canonical.dumps({"architecture": arch, "os": os_, "config": {"Cmd": ["/bin/sh"]},
                              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
                              "history": [{"created_by": "test: busybox-static"}]})
    layer_desc = Descriptor.of("application/vnd.oci.image.layer.v1.tar+gzip", layer)
    config_desc = Descriptor.of(OCI_CONFIG, config)
    target.push(layer_desc, io.BytesIO(layer))
    target.push(config_desc, io.BytesIO(config))
    manifest = build_manifest(config_desc, [layer_desc])
    desc = Descriptor.of(OCI_MANIFEST, manifest)
    target.push(desc, io.BytesIO(manifest))
    target.tag(desc, "1")
    return desc


def test_plan_layers() -> None:
    assert plan_layers([("b", 5), ("a", 10), ("c", 1), ("d/e", 20)], big_file=10) == [["a"], ["d/e"], ["b", "c"]]
    assert plan_layers([("a", 1)], big_file=10) == [["a"]] and plan_layers([], big_file=1) == []


@pytest.mark.registry
def test_modelcar_runs_in_a_container_root(populated: Populated, run_cli, tmp_path: Path) -> None:
    _tools()
    client = populated.client()
    try:
        base = busybox_base(client.repository("mc/busybox", push=True))
        model = push_model(client.repository("mc/model", push=True), metadata(3), ["1.0"], files=FILES)
    finally:
        client.close()
    host = populated.host
    args = ["export", "--modelcar", f"{host}/mc/model:1.0", f"{host}/mc/model:1.0-modelcar",
            "--base", f"{host}/mc/busybox@{base.digest}", "--json"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == model.digest and out["base"] == base.digest and out["baseLayers"] == 1
    assert [m["files"] for m in out["modelLayers"]] == [["model.safetensors"], ["weights/part-2.bin"],
                                                        ["config.json", "run.sh", "tokenizer/vocab.txt"]]
    again = run_cli(*args)
    assert json.loads(again.stdout)["digest"] == out["digest"], "the same model and base give the same image"

    # a referrer of the model
    client = populated.client()
    try:
        repo = client.repository("mc/model")
        found = [x for x in list_referrers(repo, model) if x.descriptor.digest == out["digest"]]
        assert found and found[0].manifest.subject.digest == model.digest
    finally:
        client.close()

    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{host}/mc/model:1.0-modelcar",
                    f"oci:{layout}:modelcar"], check=True, capture_output=True, timeout=120)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:modelcar", str(bundle)], check=True,
                   capture_output=True, timeout=120)
    rootfs = bundle / "rootfs"
    listing = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c", "ls -l /models"], check=True,
                             capture_output=True, text=True, timeout=60).stdout
    assert {"model.safetensors", "weights", "config.json", "tokenizer", "run.sh"} <= set(listing.split())
    for path, data in FILES.items():
        assert (rootfs / "models" / path).read_bytes() == data, path
        seen = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c", f"busybox cat /models/{path}"], check=True,
                              capture_output=True, timeout=60).stdout
        assert seen == data, path
    mode = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c", "busybox stat -c %a /models/config.json /models/weights"],
                          check=True, capture_output=True, text=True, timeout=60).stdout.split()
    assert mode == ["644", "755"]


def test_export_needs_a_kind(run_cli) -> None:
    r = run_cli("export", "a:1", "b:1", "--base", "c:1")
    assert r.returncode == 2 and "--modelcar" in r.stderr
