"""Blobs a registry holds under another repository are mounted, not sent: the location cache
(content/remote/locations.py) remembers where each blob was seen, across runs and processes, and a push
to a new repository asks the registry to mount from there. Counted in registry 2.8.2's own access log."""

from __future__ import annotations

import multiprocessing
import os
import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from modelcrate import api, transfer
from modelcrate.content.remote import RemoteSettings
from modelcrate.content.remote import locations as loc
from modelcrate.content.remote.credentials import Credentials, DockerConfig
from modelcrate.settings import Settings
from tests.support.registry import RegistryProcess
from tests.transport.conftest import model_files, sha, write_model

_ACCESS = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.1" (\d{3})')


def access_log(reg: RegistryProcess, since: int = 0) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request in the registry's access log after line ``since``."""
    lines = reg.read_log().splitlines()[since:]
    return [(m.group(1), m.group(2), int(m.group(3))) for line in lines if (m := _ACCESS.search(line))]


def uploads(entries: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Requests that carry blob bytes: PATCH or PUT on an upload session."""
    return [e for e in entries if e[0] in ("PATCH", "PUT") and "/blobs/uploads/" in e[1]]


@pytest.fixture
def big_model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model", {"a.safetensors": os.urandom(3_000_000), "b.bin": os.urandom(50_000),
                                            "config.json": b"{}"})


def test_a_push_to_a_new_repository_mounts_every_blob_seen_elsewhere_and_sends_no_blob_bytes(
        registry: RegistryProcess, repo: str, settings: Settings, remote: RemoteSettings, big_model: Path,
        pack_for, fresh_settings: Settings, tmp_path: Path) -> None:
    first = f"{registry.host}/{repo}/first:1"
    pack_for(big_model, first)
    transfer.push(first, config=settings, remote=remote)  # blob locations recorded in the store's state
    assert (settings.state_dir / loc.FILENAME).exists()
    second = f"{registry.host}/{repo}/second:1"
    api.tag(first, second, config=settings)  # a local tag only
    mark = len(registry.read_log().splitlines())
    result = transfer.push(second, config=settings, remote=remote)  # a new run: the cache comes from disk
    log = access_log(registry, mark)
    assert uploads(log) == []
    assert result.mounted >= 3  # config + three files
    mounts = [e for e in log if e[0] == "POST" and "mount=" in e[1]]
    assert mounts and all(f"from={repo}/first" in path and status == 201 for _m, path, status in mounts)
    assert result.bytes_sent < 4096  # the manifest only
    out = tmp_path / "out"
    transfer.pull_to_dir(second, out, config=fresh_settings, remote=remote)
    assert model_files(out) == model_files(big_model)


def test_a_stale_location_falls_back_to_an_upload(registry: RegistryProcess, repo: str, settings: Settings,
                                                  remote: RemoteSettings, big_model: Path, pack_for,
                                                  fresh_settings: Settings, tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo}/target:1"
    digest = pack_for(big_model, ref)
    # Claim every blob sits in a repository that does not exist: the registry answers 202, not 201.
    cache = loc.BlobLocations.in_dir(registry.host, settings.state_dir)
    from modelcrate.content.layout import LocalStore

    store = LocalStore(settings.home)
    for blob in store.blob_path(digest).parent.iterdir():
        cache.record("sha256:" + blob.name, f"{repo}/nowhere")
    cache.flush()
    mark = len(registry.read_log().splitlines())
    result = transfer.push(ref, config=settings, remote=remote)
    log = access_log(registry, mark)
    assert result.mounted == 0 and result.copied >= 3
    assert any(status == 202 and f"from={repo}/nowhere" in path for _m, path, status in log)
    assert not [e for e in log if e[0] == "DELETE" and e[2] >= 400]
    out = tmp_path / "out"
    transfer.pull_to_dir(ref, out, config=fresh_settings, remote=remote)
    assert model_files(out) == model_files(big_model)
    # The refused source is no longer suggested; the repository pushed to is.
    again = loc.BlobLocations.in_dir(registry.host, settings.state_dir)
    holders = again.holders(sha((big_model / "b.bin").read_bytes()))
    assert holders[0] == f"{repo}/target" and f"{repo}/nowhere" not in holders


def test_a_mount_on_a_token_registry_asks_pull_on_the_source_and_push_on_the_destination(
        token_registry: RegistryProcess, repo: str, settings: Settings, remote: RemoteSettings, big_model: Path,
        pack_for, docker_config: Path) -> None:
    DockerConfig(docker_config).store(token_registry.host, Credentials(token_registry.username,
                                                                       token_registry.password))
    first = f"{token_registry.host}/{repo}/src:1"
    pack_for(big_model, first)
    transfer.push(first, config=settings, remote=remote)
    second = f"{token_registry.host}/{repo}/dst:1"
    api.tag(first, second, config=settings)
    token_registry.token_server.reset_stats()
    mark = len(token_registry.read_log().splitlines())
    result = transfer.push(second, config=settings, remote=remote)
    assert uploads(access_log(token_registry, mark)) == [] and result.mounted >= 3
    scopes = " ".join(token_registry.token_server.scopes_requested)
    assert f"repository:{repo}/src:pull" in scopes and f"repository:{repo}/dst:pull,push" in scopes


# ---- the cache itself -------------------------------------------------------------------------------
def test_the_cache_keeps_the_most_recent_sightings_within_its_bound(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loc, "MAX_ROWS", 50)
    for batch in range(4):
        cache = loc.BlobLocations.in_dir("reg:5000", tmp_path)
        for i in range(30):
            cache.record(f"sha256:{batch:02d}{i:062d}", "team/m")
        cache.flush()
    with sqlite3.connect(tmp_path / loc.FILENAME) as db:
        (count,) = db.execute("SELECT count(*) FROM locations").fetchone()
    assert count == 50
    fresh = loc.BlobLocations.in_dir("reg:5000", tmp_path)
    assert fresh.holders(f"sha256:03{29:062d}") == ["team/m"]  # the newest batch survives
    assert fresh.holders(f"sha256:00{0:062d}") == []  # the oldest was trimmed
    assert loc.BlobLocations.in_dir("other:5000", tmp_path).holders(f"sha256:03{29:062d}") == []


def _writer(directory: str, worker: int) -> None:
    for batch in range(10):
        cache = loc.BlobLocations.in_dir("reg:5000", Path(directory))
        for i in range(20):
            cache.record(f"sha256:{worker:02d}{batch:02d}{i:060d}", f"team/w{worker}")
        cache.flush()


def test_processes_writing_the_cache_at_once_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with sqlite3.connect(tmp_path / loc.FILENAME) as db:
        (count,) = db.execute("SELECT count(*) FROM locations").fetchone()
    assert count == 3 * 10 * 20


def test_an_unreadable_cache_is_an_empty_one(tmp_path: Path) -> None:
    (tmp_path / loc.FILENAME).write_bytes(b"this is not a database" * 100)
    cache = loc.BlobLocations.in_dir("reg:5000", tmp_path)
    assert cache.holders("sha256:" + "a" * 64) == []
    cache.record("sha256:" + "a" * 64, "team/m")
    cache.flush()  # no error: the transfer goes on without the hint
    assert replace(RemoteSettings(), state_dir=tmp_path).state_dir == tmp_path
