"""Blob downloads redirected to storage on another host (tests/transport/redirector.py in front of a real
registry:2 with Basic auth): followed, never with the registry's credentials, resumed by asking the
registry again when the storage connection drops (its pre-signed URL is single-use), bounded, and never
from HTTPS down to HTTP."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from modelcrate import transfer
from modelcrate.content.remote import RemoteSettings
from modelcrate.content.remote.credentials import Credentials, DockerConfig
from modelcrate.content.remote.http import redirect_target
from modelcrate.errors import RegistryError
from modelcrate.settings import Settings
from tests.support.registry import RegistryProcess
from tests.transport.conftest import client_for, model_files, write_model
from tests.transport.redirector import Redirector
from tests.transport.scripted import Scripted, servers  # noqa: F401  (servers is a fixture)


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model", {"w.safetensors": os.urandom(3_000_000), "small.bin": os.urandom(30_000),
                                            "config.json": b"{}"})


def _front(reg: RegistryProcess, docker_config: Path, status: int = 307) -> Redirector:
    basic = "Basic " + base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    front = Redirector(reg.port, basic, status=status)
    DockerConfig(docker_config).store(front.host, Credentials(reg.username, reg.password))
    return front


@pytest.mark.parametrize("status", [307, 302, 303])
def test_a_redirected_pull_reaches_storage_without_the_registry_credentials(
        htpasswd_registry: RegistryProcess, repo: str, settings: Settings, remote: RemoteSettings,
        docker_config: Path, weights: Path, pack_for, tmp_path: Path, status: int) -> None:
    with _front(htpasswd_registry, docker_config, status) as front:
        ref = f"{front.host}/{repo}:1"
        pack_for(weights, ref)
        transfer.push(ref, config=settings, remote=remote)
        out = tmp_path / "out"
        transfer.pull_to_dir(ref, out, config=settings, remote=remote)
        assert model_files(out) == model_files(weights)
        assert front.redirects >= 3 and len(front.storage_headers) == front.redirects
        for headers in front.storage_headers:
            assert not {k.lower() for k in headers} & {"authorization", "cookie"}
            assert htpasswd_registry.password not in repr(headers)


def test_a_dropped_storage_download_asks_the_registry_for_a_new_url(
        htpasswd_registry: RegistryProcess, repo: str, settings: Settings, remote: RemoteSettings,
        docker_config: Path, weights: Path, pack_for, tmp_path: Path) -> None:
    with _front(htpasswd_registry, docker_config) as front:
        ref = f"{front.host}/{repo}:1"
        pack_for(weights, ref)
        transfer.push(ref, config=settings, remote=remote)
        front.redirects = 0
        front.cut_after = [1_200_000]  # the first storage answer dies part-way through the big blob
        out = tmp_path / "out"
        result = transfer.pull_to_dir(ref, out, config=settings, remote=remote, concurrency=1)
        assert model_files(out) == model_files(weights)
        # Each URL works once: finishing proves the registry was asked again, and the download went on
        # from the byte it reached rather than from the start.
        assert front.redirects == 4 and any("Range" in h for h in front.storage_headers)
        assert result.bytes_received < sum(len(v) for v in model_files(weights).values()) + 2_000_000


def test_redirects_are_bounded(servers: tuple[Scripted, Scripted], remote: RemoteSettings) -> None:
    registry, _storage = servers
    path = "/v2/t/loop/blobs/sha256:" + "a" * 64
    registry.routes[path] = lambda _req: (307, {"Location": path}, b"")
    client = client_for(registry.host, remote)
    try:
        with pytest.raises(RegistryError, match="more than 5 redirects"):
            client.request("GET", client.url(path), scopes=(), follow=True)
    finally:
        client.close()


def test_a_redirect_from_https_to_http_or_another_scheme_is_refused() -> None:
    with pytest.raises(RegistryError, match="plain HTTP"):
        redirect_target("https://reg.example/v2/a/blobs/x", "http://storage.example/x?sig=1")
    with pytest.raises(RegistryError, match="unusable"):
        redirect_target("https://reg.example/v2/a/blobs/x", "file:///etc/passwd")
    assert redirect_target("https://reg.example/v2/a/blobs/x", "/other?sig=1") == "https://reg.example/other?sig=1"
    assert redirect_target("http://reg.example/v2/x", "https://s.example/y") == "https://s.example/y"
