"""export --modelcar, checked as a container runtime would: skopeo copy, umoci unpack, chroot, sh."""

from __future__ import annotations

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
from modelcrate.format.descriptor import Descriptor
from modelcrate.serving.modelcar import plan_layers
from tests.discovery.conftest import FAST, Populated
from tests.support.images import base_image
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
    return base_image(target, {"bin/busybox": BUSYBOX.read_bytes()}, symlinks={"bin/sh": "busybox"},
                      made_by="test: busybox-static")


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
    subprocess.run(["skopeo", "copy", "--preserve-digests", "--src-tls-verify=false",
                    f"docker://{host}/mc/model:1.0-modelcar",
                    f"oci:{layout}:modelcar"], check=True, capture_output=True, timeout=120)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:modelcar", str(bundle)], check=True,
                   capture_output=True, timeout=120)
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == out["digest"], "the runtime sees the digest that was pushed"
    rootfs = bundle / "rootfs"
    listing = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c", "ls -l /models"], check=True,
                             capture_output=True, text=True, timeout=60).stdout
    assert {"model.safetensors", "weights", "config.json", "tokenizer", "run.sh"} <= set(listing.split())
    for path, data in FILES.items():
        assert (rootfs / "models" / path).read_bytes() == data, path
        seen = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c", f"busybox cat /models/{path}"], check=True,
                              capture_output=True, timeout=60).stdout
        assert seen == data, path
    mode = subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c",
                           "busybox stat -c %a /models/config.json /models/weights"],
                          check=True, capture_output=True, text=True, timeout=60).stdout.split()
    assert mode == ["644", "755"]


def test_export_needs_a_kind(run_cli) -> None:
    r = run_cli("export", "a:1", "b:1", "--base", "c:1")
    assert r.returncode == 2 and "--modelcar" in r.stderr


def _model_files(layers: list[tuple[str, bytes]]) -> dict[str, tuple[str, int]]:
    """In-image path → (sha256 of the content, mode) for the files of uncompressed tar layers."""
    out = {}
    for media_type, blob in layers:
        assert media_type == "application/vnd.oci.image.layer.v1.tar"
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            for m in tar.getmembers():
                if m.isfile():
                    data = tar.extractfile(m).read()  # type: ignore[union-attr]
                    out[m.name.lstrip("/")] = (hashlib.sha256(data).hexdigest(), m.mode)
    return out


@pytest.mark.registry
@pytest.mark.interop
def test_same_shape_as_olot(populated: Populated, run_cli, tmp_path: Path) -> None:
    """olot (PyPI), the reference modelcar tool, on the same base and files: the same image paths and
    bytes, the base untouched, uncompressed tar layers; spec/serving.md lists where we differ and why."""
    olot = pytest.importorskip("olot.basics")
    _tools()
    client = populated.client()
    try:
        base = busybox_base(client.repository("olot/busybox", push=True))
        push_model(client.repository("olot/model", push=True), metadata(4), ["1"], files=FILES)
    finally:
        client.close()
    host = populated.host
    layout = tmp_path / "olot"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{host}/olot/busybox@{base.digest}",
                    f"oci:{layout}:latest"], check=True, capture_output=True, timeout=120)
    src = tmp_path / "files"
    for path, data in FILES.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)
    olot.oci_layers_on_top(layout, [src / p for p in FILES], root_dir=src)
    blob = lambda d: (layout / "blobs" / "sha256" / d[7:]).read_bytes()  # noqa: E731
    index = json.loads((layout / "index.json").read_text())
    theirs = json.loads(blob(index["manifests"][0]["digest"]))
    their_config = json.loads(blob(theirs["config"]["digest"]))

    r = run_cli("export", "--modelcar", f"{host}/olot/model:1", f"{host}/olot/model:mc", "--base",
                f"{host}/olot/busybox@{base.digest}", "--json")
    assert r.returncode == 0, r.stderr
    mine_layout = tmp_path / "ours"
    subprocess.run(["skopeo", "copy", "--preserve-digests", "--src-tls-verify=false",
                    f"docker://{host}/olot/model:mc",
                    f"oci:{mine_layout}:latest"], check=True, capture_output=True, timeout=120)
    mine_blob = lambda d: (mine_layout / "blobs" / "sha256" / d[7:]).read_bytes()  # noqa: E731
    ours = json.loads(mine_blob(json.loads((mine_layout / "index.json").read_text())["manifests"][0]["digest"]))
    assert ours["subject"]["digest"] == json.loads(r.stdout)["model"]
    our_config = json.loads(mine_blob(ours["config"]["digest"]))
    our_layers = [(d["mediaType"], mine_blob(d["digest"])) for d in ours["layers"][1:]]
    # shared: base layer and config carried over unchanged, model layers appended as plain tar
    assert ours["layers"][0] == {k: v for k, v in theirs["layers"][0].items() if v is not None}
    assert our_config["config"] == their_config["config"]
    assert our_config["rootfs"]["diff_ids"][0] == their_config["rootfs"]["diff_ids"][0]
    mine = _model_files(our_layers)
    olots = _model_files([(d["mediaType"], blob(d["digest"])) for d in theirs["layers"][1:]])
    assert {p: h for p, (h, _m) in mine.items()} == {p: h for p, (h, _m) in olots.items()}
    assert set(mine) == {f"models/{p}" for p in FILES}
    # different: small files share a layer; modes come from the model (olot writes 0664)
    assert len(our_layers) == 3 and len(theirs["layers"]) - 1 == len(FILES)
    assert mine["models/config.json"][1] == 0o644 and olots["models/config.json"][1] == 0o664
