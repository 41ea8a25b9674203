"""Push, pull and copy against a real registry 2.8.2: byte-identical round trips, digests, dedupe, mount."""

from __future__ import annotations

import http.client
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from modelcrate import api, transfer
from modelcrate.content.layout import LocalStore
from modelcrate.content.remote import RemoteSettings
from modelcrate.errors import DigestMismatch, InvalidReference, ModelcrateError, NotFound
from modelcrate.format.descriptor import Descriptor
from modelcrate.settings import Settings
from modelcrate.unpacking import fetch_model
from tests.support.faultproxy import FaultProxy
from tests.support.progress import Recording
from tests.support.registry import RegistryProcess
from tests.transport.conftest import client_for, model_files, write_model


def _files_of(target, reference: str):  # noqa: ANN001, ANN202
    return fetch_model(target, target.resolve(reference)).files


def raw_call(reg: RegistryProcess, method: str, path: str, headers: dict[str, str] | None = None
             ) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", reg.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_push_then_pull_into_fresh_store_is_byte_identical(
        registry: RegistryProcess, repo: str, model_dir: Path, settings: Settings, fresh_settings: Settings,
        remote: RemoteSettings, pack_for: Callable[[Path, str], str], tmp_path: Path) -> None:
    ref = f"{registry.host}/{repo}:1.0"
    digest = pack_for(model_dir, ref)
    pushed = transfer.push(ref, config=settings, remote=remote)
    assert pushed.digest == digest
    assert pushed.copied == 6 and pushed.skipped == 0  # 4 files, config, manifest
    pulled = transfer.pull(ref, config=fresh_settings, remote=remote)
    assert pulled.digest == digest and pulled.copied == 6
    out = tmp_path / "out"
    api.unpack(ref, out, config=fresh_settings)
    assert model_files(out) == model_files(model_dir)
    # The manifest bytes are kept exactly: same digest in both stores.
    assert api.inspect(ref, config=fresh_settings).manifest.raw == api.inspect(ref, config=settings).manifest.raw


def test_push_dir_streams_from_disk_with_the_pack_digest(
        registry: RegistryProcess, repo: str, model_dir: Path, settings: Settings, remote: RemoteSettings,
        tmp_path: Path, fresh_settings: Settings) -> None:
    ref = f"{registry.host}/{repo}:1.0"
    result = transfer.push_dir(model_dir, ref, config=settings, remote=remote)
    assert not any(LocalStore(settings.home).root.joinpath("blobs", "sha256").iterdir())  # no copy in the store
    assert result.digest == api.pack(model_dir, "again:1", config=fresh_settings).descriptor.digest
    out = tmp_path / "out"
    transfer.pull_to_dir(ref, out, remote=remote)
    assert model_files(out) == model_files(model_dir)


def test_push_dir_with_a_tar_layer(registry: RegistryProcess, repo: str, tmp_path: Path, remote: RemoteSettings,
                                   settings: Settings) -> None:
    root = write_model(tmp_path / "m", {"w.safetensors": os.urandom(5000)})
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (root / "tokenizer" / "merges.txt").write_text("ab\n")
    with open(root / "modelcrate.yaml", "a") as f:
        f.write("  - {path: tokenizer, kind: weight.config, archive: true}\n")
    ref = f"{registry.host}/{repo}:1"
    result = transfer.push_dir(root, ref, config=settings, remote=remote)
    assert result.digest == api.pack(root, "x:1", config=Settings(tmp_path / "h2")).descriptor.digest
    out = tmp_path / "out"
    transfer.pull_to_dir(ref, out, remote=remote)
    assert model_files(out) == model_files(root)


def test_pull_by_digest_keeps_the_manifest_untagged(
        registry: RegistryProcess, repo: str, model_dir: Path, settings: Settings, fresh_settings: Settings,
        remote: RemoteSettings) -> None:
    digest = transfer.push_dir(model_dir, f"{registry.host}/{repo}:1.0", config=settings, remote=remote).digest
    name = f"{registry.host}/{repo}"
    result = transfer.pull(f"{name}@{digest}", config=fresh_settings, remote=remote)
    assert result.digest == digest
    store = LocalStore(fresh_settings.home)
    assert store.repository(name).tags() == []
    assert store.gc() == (0, 0)  # kept: garbage collection does not sweep a model pulled by digest
    assert api.inspect(f"{name}@{digest}", config=fresh_settings).manifest.digest == digest


def test_tag_at_digest_the_digest_wins_and_a_moved_tag_is_refused(
        registry: RegistryProcess, repo: str, tmp_path: Path, settings: Settings, fresh_settings: Settings,
        remote: RemoteSettings) -> None:
    name = f"{registry.host}/{repo}"
    v1 = transfer.push_dir(write_model(tmp_path / "a", {"w.bin": b"one" * 100}), f"{name}:1",
                           config=settings, remote=remote).digest
    transfer.push_dir(write_model(tmp_path / "b", {"w.bin": b"two" * 100}), f"{name}:latest",
                      config=settings, remote=remote)
    assert transfer.pull(f"{name}:1@{v1}", config=fresh_settings, remote=remote).digest == v1
    with pytest.raises(DigestMismatch, match=r":latest is sha256:\w+, not " + v1):
        transfer.pull(f"{name}:latest@{v1}", config=fresh_settings, remote=remote)
    with pytest.raises(NotFound):
        transfer.pull(f"{name}@sha256:{'0' * 64}", config=fresh_settings, remote=remote)


def test_a_manifest_that_does_not_hash_to_its_digest_is_refused(
        registry_factory: Callable[..., RegistryProcess], model_dir: Path, settings: Settings,
        fresh_settings: Settings, remote: RemoteSettings, tmp_path: Path) -> None:
    reg = registry_factory()
    name = f"{reg.host}/t/m"
    digest = transfer.push_dir(model_dir, f"{name}:1", config=settings, remote=remote).digest
    path = reg.blob_path(digest)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"schemaVersion":2', b'"schemaVersion":2 '))  # a registry serving other bytes
    with pytest.raises(ModelcrateError, match="hashing to") as err:
        transfer.pull(f"{name}@{digest}", config=fresh_settings, remote=remote)
    assert isinstance(err.value.__cause__ or err.value, DigestMismatch)
    with pytest.raises(DigestMismatch):
        transfer.pull_to_dir(f"{name}:1", tmp_path / "out", remote=remote)
    assert not (tmp_path / "out").exists()
    assert not any(LocalStore(fresh_settings.home).root.joinpath("blobs", "sha256").iterdir())


def test_second_push_uploads_nothing_and_a_new_version_uploads_only_the_changed_file(
        registry: RegistryProcess, repo: str, tmp_path: Path, settings: Settings, remote: RemoteSettings) -> None:
    name = f"{registry.host}/{repo}"
    files = {"big.safetensors": os.urandom(200_000), "small.bin": os.urandom(30_000), "config.json": b"{}"}
    v1 = write_model(tmp_path / "v1", files, version="1.0.0")
    with FaultProxy(registry.port) as proxy:
        via = f"{proxy.host}/{repo}"
        transfer.push_dir(v1, f"{via}:1.0.0", config=settings, remote=remote)
        first = proxy.stats.c2s_body_bytes
        proxy.reset_stats()
        again = transfer.push_dir(v1, f"{via}:1.0.0", config=settings, remote=remote)
        assert again.copied == 0 and again.bytes_copied == 0
        blob_bytes = sum(r.body_bytes for r in proxy.stats.requests if "/blobs/uploads/" in r.target)
        assert blob_bytes == 0  # only the tag's manifest PUT carried a body
        proxy.reset_stats()
        v2 = write_model(tmp_path / "v2", {**files, "small.bin": os.urandom(30_000)}, version="1.1.0")
        result = transfer.push_dir(v2, f"{via}:1.1.0", config=settings, remote=remote)
        uploads = [r for r in proxy.stats.requests if "/blobs/uploads/" in r.target and r.body_bytes]
    # the changed file and the new config (its diffIds changed) went up; the 200 kB weight did not
    assert sorted(r.body_bytes for r in uploads) == sorted([30_000, result.bytes_copied - 30_000
                                                           - _manifest_size(registry, repo, "1.1.0")])
    assert first > 230_000 and sum(r.body_bytes for r in uploads) < 40_000
    assert transfer.list_tags(name, remote=remote) == ["1.0.0", "1.1.0"]


def _manifest_size(reg: RegistryProcess, repo: str, tag: str) -> int:
    status, headers, _ = raw_call(reg, "HEAD", f"/v2/{repo}/manifests/{tag}",
                                  {"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 200
    return int(headers["Content-Length"])


def test_copy_between_repositories_mounts_blobs(
        registry: RegistryProcess, repo: str, model_dir: Path, settings: Settings, remote: RemoteSettings,
        fresh_settings: Settings, tmp_path: Path) -> None:
    src = f"{registry.host}/{repo}/src:1"
    pushed = transfer.push_dir(model_dir, src, config=settings, remote=remote)
    with FaultProxy(registry.port) as proxy:
        result = transfer.copy_ref(f"{proxy.host}/{repo}/src:1", f"{proxy.host}/{repo}/dst", remote=remote,
                                   config=settings)
        uploads = [r for r in proxy.stats.requests if r.method in ("PUT", "PATCH") and "/blobs/" in r.target]
    assert result.digest == pushed.digest and result.reference.endswith(f"{repo}/dst:1")
    assert result.mounted == 5 and result.copied == 1  # 4 files + config mounted; the manifest is written
    assert uploads == []  # no blob byte moved
    out = tmp_path / "out"
    transfer.pull_to_dir(f"{registry.host}/{repo}/dst:1", out, remote=remote)
    assert model_files(out) == model_files(model_dir)


def test_mount_answered_202_falls_back_to_upload(registry: RegistryProcess, repo: str, remote: RemoteSettings) -> None:
    target = client_for(registry, remote).repository(f"{repo}/dst", push=True)
    data = os.urandom(10_000)
    desc = Descriptor.of("application/octet-stream", data)
    assert target.mount(desc, f"{repo}/nowhere") is False  # the source lacks it: 202 and an open session
    target.push(desc, io.BytesIO(data))  # the session opened by the mount is used for the upload
    assert target.exists(desc)
    assert client_for(registry, remote).repository(f"{repo}/other").exists(desc) is False  # per repository


def test_copy_from_registry_to_local_and_between_registries(
        registry: RegistryProcess, registry_factory: Callable[..., RegistryProcess], repo: str, model_dir: Path,
        settings: Settings, fresh_settings: Settings, remote: RemoteSettings, tmp_path: Path) -> None:
    other = registry_factory()
    digest = transfer.push_dir(model_dir, f"{registry.host}/{repo}:2", config=settings, remote=remote).digest
    result = transfer.copy_ref(f"{registry.host}/{repo}:2", f"{other.host}/mirror/m", config=settings, remote=remote)
    assert result.digest == digest and result.mounted == 0 and result.copied == 6
    assert transfer.copy_ref(f"{other.host}/mirror/m:2", "local/m:9", config=fresh_settings,
                             remote=remote).digest == digest
    out = tmp_path / "out"
    api.unpack("local/m:9", out, config=fresh_settings)
    assert model_files(out) == model_files(model_dir)


def test_tags_are_sorted_and_null_means_none(registry: RegistryProcess, repo: str, tmp_path: Path,
                                             settings: Settings, remote: RemoteSettings) -> None:
    name = f"{registry.host}/{repo}"
    root = write_model(tmp_path / "m", {"w.bin": b"w"})
    for tag in ("b", "a", "c", "10"):
        transfer.push_dir(root, f"{name}:{tag}", config=settings, remote=remote)
    assert transfer.list_tags(name, remote=remote) == ["10", "a", "b", "c"]
    digest = client_for(registry, remote).repository(repo).resolve("a").digest
    assert raw_call(registry, "DELETE", f"/v2/{repo}/manifests/{digest}")[0] == 202  # drops every tag
    status, _h, body = raw_call(registry, "GET", f"/v2/{repo}/tags/list")
    assert status == 200 and json.loads(body)["tags"] is None  # the 2.8.2 quirk this guards against
    assert transfer.list_tags(name, remote=remote) == []
    with pytest.raises(NotFound, match="not found"):
        transfer.list_tags(f"{registry.host}/{repo}/never-pushed", remote=remote)
    with pytest.raises(InvalidReference):
        transfer.list_tags("no-registry/name", remote=remote)


def test_catalog_lists_repositories(registry: RegistryProcess, repo: str, tmp_path: Path, settings: Settings,
                                    remote: RemoteSettings) -> None:
    transfer.push_dir(write_model(tmp_path / "m", {"w.bin": b"w"}), f"{registry.host}/{repo}/cat:1",
                      config=settings, remote=remote)
    names = transfer.catalog(registry.host, remote=remote)
    assert f"{repo}/cat" in names and names == sorted(names)


def test_referrers_api_is_probed_once_and_absent_on_2_8_2(
        registry: RegistryProcess, repo: str, tmp_path: Path, settings: Settings, remote: RemoteSettings) -> None:
    digest = transfer.push_dir(write_model(tmp_path / "m", {"w.bin": b"w"}), f"{registry.host}/{repo}:1",
                               config=settings, remote=remote).digest
    with FaultProxy(registry.port) as proxy:
        client = client_for(proxy.host, remote)
        target = client.repository(repo)
        desc = target.resolve(digest)
        assert target.referrers_api(desc) is None
        assert client.repository(f"{repo}/other").referrers_api(desc) is None
        probes = [r for r in proxy.stats.requests if "/referrers/" in r.target]
    assert len(probes) == 1  # the answer is kept per registry


def test_pull_to_dir_fetches_raw_layers_concurrently_in_manifest_order(
        registry: RegistryProcess, repo: str, tmp_path: Path, settings: Settings, remote: RemoteSettings) -> None:
    files = {f"w/part-{i:02d}.bin": os.urandom(20_000 + i) for i in range(10)}
    files["w/copy.bin"] = files["w/part-03.bin"]  # one blob under two paths
    root = write_model(tmp_path / "m", files)
    ref = f"{registry.host}/{repo}:1"
    transfer.push_dir(root, ref, config=settings, remote=remote)
    one, four = Recording(), Recording(meet=4)
    seq = transfer.pull_to_dir(ref, tmp_path / "one", remote=remote, progress=one,
                               config=Settings(tmp_path / "h", concurrency=1))  # from the settings
    par = transfer.pull_to_dir(ref, tmp_path / "four", remote=remote, progress=four, concurrency=4)
    assert model_files(tmp_path / "one") == model_files(tmp_path / "four") == model_files(root)
    manifest_order = [f.path for f in _files_of(client_for(registry, remote).repository(repo), "1")]
    assert par.files == seq.files and [p for p, _ in par.files] == manifest_order
    assert one.most == 1 and four.most >= 4
    assert four.clashes == 0 and not four.active and four.bytes == one.bytes == sum(map(len, files.values()))
