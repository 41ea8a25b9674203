"""Nothing the network returns is trusted; nothing is deleted that was not asked for; memory stays bounded.

Each measured oras-py 0.2.43 fault has a test here or in test_resume.py / test_auth.py whose
name starts with ``test_oras_py_<n>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelcrate import transfer
from modelcrate.targets import open_target
from modelcrate.content.layout import LocalRepository, LocalStore
from modelcrate.content.remote import RegistryTarget, RemoteSettings
from modelcrate.errors import DigestMismatch, ModelcrateError, UnsafePath
from modelcrate.format.reference import Reference
from modelcrate.settings import Settings
from tests.conftest import cli_path
from tests.support.artifacts import Layer, link, put_model, reg, tar_bytes
from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess
from tests.transport.conftest import client_for, tree, write_model


def store_is_clean(settings: Settings) -> None:
    """No tag, no temp file, and nothing a garbage collection would have to keep."""
    store = LocalStore(settings.home)
    assert store.entries() == []
    assert list(store.root.joinpath("ingest").iterdir()) == []
    store.gc()
    assert list(store.root.joinpath("blobs", "sha256").iterdir()) == []


@pytest.mark.parametrize("which", ["big.safetensors", "small.json"])
def test_oras_py_2_unverified_pull__a_tampered_blob_is_refused_and_nothing_is_kept(
        registry_factory: Callable[..., RegistryProcess], tmp_path: Path, settings: Settings,
        fresh_settings: Settings, remote: RemoteSettings, run_cli: Callable[..., object], which: str) -> None:
    """oras-py writes pulled blobs without checking their digest. Registry 2.8.2 serves whatever is on its
    disk (it does not re-hash on read), so a tampered blob reaches the client with the right headers."""
    reg = registry_factory()
    files = {"big.safetensors": os.urandom(3_000_000), "small.json": b'{"a": 1}' * 50, "code.py": b"x = 1\n"}
    root = write_model(tmp_path / "m", files)
    ref = f"{reg.host}/t/tamper:1"
    transfer.push_dir(root, ref, config=settings, remote=remote)
    layer = next(f for f in transfer_files(reg, remote) if f.path == which)
    path = reg.blob_path(layer.descriptor.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    path.write_bytes(bytes(data))

    with pytest.raises(ModelcrateError) as err:
        transfer.pull(ref, config=fresh_settings, remote=remote)
    assert isinstance(err.value.__cause__, DigestMismatch) or isinstance(err.value, DigestMismatch)
    assert not LocalStore(fresh_settings.home).has_blob(layer.descriptor.digest)
    store_is_clean(fresh_settings)

    out = tmp_path / "out"
    with pytest.raises(DigestMismatch):
        transfer.pull_to_dir(ref, out, remote=remote)
    assert not out.exists()

    out.mkdir()
    (out / "mine.txt").write_text("kept")
    done = run_cli("pull", ref, "-o", str(out))
    assert done.returncode == 1 and "hashes to" in done.stderr  # type: ignore[attr-defined]
    assert len(done.stderr.strip().splitlines()) == 1  # type: ignore[attr-defined]
    assert tree(out) == {"mine.txt": b"kept"}  # nothing of the refused model, no temp files


def transfer_files(reg: RegistryProcess, remote: RemoteSettings):  # noqa: ANN201
    from modelcrate.unpacking import fetch_model
    target = client_for(reg, remote).repository("t/tamper")
    return fetch_model(target, target.resolve("1")).files


@pytest.mark.parametrize("members", [
    pytest.param([(link("evil", "../../outside.txt"), None)], id="symlink-out"),
    pytest.param([(link("evil", "/tmp"), None), (reg("evil/pwned.txt"), b"x")], id="symlink-dir-then-write"),
    pytest.param([(link("hard", "/etc/passwd", kind=b"1"), None)], id="hardlink"),
    pytest.param([(reg("../escape.txt"), b"x")], id="dotdot"),
])
def test_oras_py_9_tar_symlink_escape__pull_o_refuses_links_and_writes_nothing(
        registry: RegistryProcess, repo: str, tmp_path: Path, remote: RemoteSettings,
        members: list, run_cli: Callable[..., object]) -> None:
    """oras-py lets a symlink in a tar layer write outside the output directory."""
    target = client_for(registry, remote).repository(repo, push=True)
    put_model(target, [Layer("weights.bin", b"w" * 100),
                       Layer("tokenizer", tar_bytes([(reg("ok.txt"), b"fine"), *members]), kind="weight.config",
                             fmt="tar")], tag="1")
    work = tmp_path / "work"
    out = work / "a" / "out"
    escaped = ("outside.txt", "escape.txt", "pwned.txt")
    with pytest.raises(UnsafePath):
        transfer.pull_to_dir(f"{registry.host}/{repo}:1", out, remote=remote)
    assert not work.exists()  # not even the directories made for it
    work.mkdir()
    done = run_cli("pull", f"{registry.host}/{repo}:1", "-o", str(out))
    assert done.returncode == UnsafePath.exit_code and "nothing was written outside" in done.stderr  # type: ignore[attr-defined]
    assert list(work.iterdir()) == []
    assert not [p for p in tmp_path.parent.rglob("*") if p.name in escaped] and not Path("/tmp/pwned.txt").exists()


def test_oras_py_8_delete_one_tag_drops_all__modelcrate_never_deletes_manifests(
        registry: RegistryProcess, repo: str, tmp_path: Path, settings: Settings, fresh_settings: Settings,
        remote: RemoteSettings) -> None:
    """oras-py deletes every tag of a manifest when asked to delete one: registry 2.8.2 refuses DELETE by
    tag, and DELETE by digest drops every tag. modelcrate deletes a manifest only when asked to
    (`modelcrate delete`, which says that every tag goes with it and asks first); this proves no other
    registry operation sends a DELETE that could drop a sibling tag."""
    root = write_model(tmp_path / "m", {"w.bin": os.urandom(20_000)})
    with FaultProxy(registry.port) as proxy:
        name = f"{proxy.host}/{repo}"
        digest = transfer.push_dir(root, f"{name}:1.0", config=settings, remote=remote).digest
        transfer.push_dir(root, f"{name}:stable", config=settings, remote=remote)
        transfer.copy_ref(f"{name}:1.0", f"{name}:latest", config=settings, remote=remote)
        transfer.copy_ref(f"{name}:1.0", f"{name}/copy:1.0", config=settings, remote=remote)
        transfer.pull(f"{name}:stable", config=fresh_settings, remote=remote)
        transfer.push(f"{name}:stable", config=fresh_settings, remote=remote)
        transfer.pull_to_dir(f"{name}@{digest}", tmp_path / "out", remote=remote)
        assert transfer.list_tags(name, remote=remote) == ["1.0", "latest", "stable"]
        deletes = [r for r in proxy.stats.requests if r.method == "DELETE"]
    assert deletes == []
    for tag in ("1.0", "latest", "stable"):
        assert client_for(registry, remote).repository(repo).resolve(tag).digest == digest
    assert not any(hasattr(RegistryTarget, m) for m in ("delete", "untag", "delete_manifest", "delete_tag"))


# ---- bounded memory ------------------------------------------------------------------------------------
def peak_rss_mib(args: list[str], env: dict[str, str]) -> float:
    """Peak RSS of ``modelcrate ARGS`` run as the only child of a fresh Python (ru_maxrss of RUSAGE_CHILDREN
    is the largest of *all* waited-for children, so the test's own children must not be counted)."""
    probe = ("import resource, subprocess, sys\n"
             "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
             "if done.returncode: sys.exit('modelcrate failed: ' + done.stderr)\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    done = subprocess.run([sys.executable, "-c", probe, cli_path(), *args], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip()) / 1024


@pytest.mark.slow
def test_oras_py_1_whole_blob_in_memory__push_and_pull_of_200_mib_stay_under_100_mib(
        registry: RegistryProcess, repo: str, tmp_path: Path, docker_config: Path, home: Path) -> None:
    """oras-py reads a whole blob into memory on monolithic push (1 GiB blob, 1 GiB RSS)."""
    size = 200 * 1024 * 1024
    root = tmp_path / "m"
    root.mkdir()
    with open(root / "weights.safetensors", "wb") as f:
        block = os.urandom(4 * 1024 * 1024)
        for i in range(size // len(block)):
            f.write(block[:-8] + i.to_bytes(8, "big"))  # every block distinct, cheap to make
    (root / "modelcrate.yaml").write_text("name: big\nversion: 1.0.0\ncreated: '2025-01-01T00:00:00Z'\n"
                                          "files:\n  - {path: weights.safetensors, kind: weight}\n")
    env = {**os.environ, "MODELCRATE_HOME": str(home), "DOCKER_CONFIG": str(docker_config)}
    other = {**env, "MODELCRATE_HOME": str(tmp_path / "other")}
    ref = f"{registry.host}/{repo}:1"
    second = f"{registry.host}/{repo}-b:1"  # blobs exist per repository: this push uploads everything
    peaks = {"push DIR": peak_rss_mib(["push", str(root), ref, "-q"], env),
             "pull": peak_rss_mib(["pull", ref, "-q"], other)}
    subprocess.run([cli_path(), "tag", ref, second], env=other, check=True, capture_output=True)
    peaks["push (from store)"] = peak_rss_mib(["push", second, "-q"], other)
    peaks["pull -o"] = peak_rss_mib(["pull", ref, "-o", str(tmp_path / "out"), "-q"], env)
    print("peak RSS MiB:", json.dumps({k: round(v, 1) for k, v in peaks.items()}))
    assert all(v < 100 for v in peaks.values()), peaks
    assert (tmp_path / "out" / "weights.safetensors").stat().st_size == size


def test_a_local_writer_opened_for_push_holds_off_garbage_collection(tmp_path: Path) -> None:
    # Signing or attesting in the local store writes blobs first and the index entry that keeps them last:
    # GC must not run in between. Readers do not block it.
    settings = Settings(tmp_path / "home")
    store = LocalStore(settings.home)
    ref = Reference.parse("localhost:5000/team/m:1")
    with open_target(ref, settings, write=True, local=True) as target:
        assert isinstance(target, LocalRepository) and target.name == "localhost:5000/team/m"
        assert store.gc() is None
    with open_target(ref, settings, write=False, local=True):
        assert store.gc() is not None
