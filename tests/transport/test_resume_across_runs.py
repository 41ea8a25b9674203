"""An interrupted push resumes in the next run: the upload session is kept in the store's state directory,
the registry is asked how much it holds, only the rest is sent, and no session is left open. Against a
real registry 2.8.2 behind the fault proxy."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from modelcrate import transfer
from modelcrate.content.remote import RemoteSettings
from modelcrate.content.remote.locations import SESSIONS_FILENAME, UploadSessions
from modelcrate.errors import ModelcrateError
from modelcrate.settings import Settings
from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess
from tests.transport.conftest import model_files, write_model

CHUNK = 1 << 20
SIZE = 6 * CHUNK + 12345


def open_sessions(reg: RegistryProcess, repo: str) -> list[str]:
    """Upload sessions registry 2.8.2 holds for ``repo``: a directory with its ``startedat`` file (a
    cancelled session can leave an empty ``hashstates`` directory behind; it is no longer a session)."""
    uploads = reg.storage_dir / "docker/registry/v2/repositories" / repo / "_uploads"
    return sorted(p.name for p in uploads.iterdir() if (p / "startedat").exists()) if uploads.exists() else []


@pytest.fixture
def one_blob(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model", {"weights.bin": os.urandom(SIZE)})


def test_a_push_cut_between_requests_sends_only_the_rest_next_run_and_leaves_no_session(
        registry: RegistryProcess, repo: str, settings: Settings, remote: RemoteSettings, one_blob: Path,
        pack_for, fresh_settings: Settings, tmp_path: Path) -> None:
    chunked = replace(remote, chunk_size=CHUNK)
    with FaultProxy(registry.port) as proxy:
        ref = f"{proxy.host}/{repo}:1"
        pack_for(one_blob, ref)
        proxy.cut_requests(r"^PATCH ", skip=3, times=1000)  # the network goes after three chunks
        with pytest.raises(ModelcrateError):
            transfer.push(ref, config=settings, remote=chunked, rounds=1)
        assert UploadSessions(proxy.host, settings.state_dir).get(repo, _weights_digest(one_blob)) is not None
        assert (settings.state_dir / SESSIONS_FILENAME).stat().st_mode & 0o077 == 0
        proxy.reset()
        proxy.reset_stats()
        result = transfer.push(ref, config=settings, remote=chunked, rounds=1)  # "run it again"
        sent = proxy.stats.c2s_body_bytes
    remainder = SIZE - 3 * CHUNK
    assert remainder <= sent <= remainder + 64 * 1024  # the rest, plus config and manifest
    assert result.bytes_sent == sent
    assert open_sessions(registry, repo) == []
    _check_done(registry, proxy, repo, one_blob, settings, fresh_settings, remote, tmp_path)


def test_a_session_the_registry_cannot_resume_is_dropped_and_the_blob_sent_again(
        registry: RegistryProcess, repo: str, settings: Settings, remote: RemoteSettings, one_blob: Path,
        pack_for, fresh_settings: Settings, tmp_path: Path) -> None:
    chunked = replace(remote, chunk_size=CHUNK)
    with FaultProxy(registry.port) as proxy:
        ref = f"{proxy.host}/{repo}:1"
        pack_for(one_blob, ref)
        # Cut mid-body: registry 2.8.2 keeps the partial bytes but refuses the session from then on. The
        # count is per connection and chunks may travel on different pooled connections, so the cut comes
        # inside the first chunk any connection carries (after a whole chunk, it might never come).
        proxy.cut("c2s", after=CHUNK // 2, times=1000)
        with pytest.raises(ModelcrateError):
            transfer.push(ref, config=settings, remote=chunked, rounds=1)
        proxy.reset()
        transfer.push(ref, config=settings, remote=chunked, rounds=1)
    _check_done(registry, proxy, repo, one_blob, settings, fresh_settings, remote, tmp_path)


def _check_done(registry: RegistryProcess, proxy: FaultProxy, repo: str, model: Path, settings: Settings,
                fresh_settings: Settings, remote: RemoteSettings, tmp_path: Path) -> None:
    """No session remembered any more, and the model pulls back byte for byte."""
    assert UploadSessions(proxy.host, settings.state_dir).get(repo, _weights_digest(model)) is None
    out = tmp_path / "out"
    transfer.pull_to_dir(f"{registry.host}/{repo}:1", out, config=fresh_settings, remote=remote)
    assert model_files(out) == model_files(model)


def _weights_digest(model: Path) -> str:
    from tests.transport.conftest import sha

    return sha((model / "weights.bin").read_bytes())


def test_sessions_opened_for_uploads_that_never_came_are_cancelled(registry: RegistryProcess, repo: str,
                                                                   remote: RemoteSettings) -> None:
    from modelcrate.format.descriptor import Descriptor
    from tests.transport.conftest import client_for

    desc = Descriptor.of("application/octet-stream", os.urandom(5000))
    client = client_for(registry.host, remote)
    try:
        assert client.repository(repo, push=True).begin_upload(desc) == "upload"
        assert len(open_sessions(registry, repo)) == 1
    finally:
        client.close()  # the push never came: the session is cancelled, not left to the purge
    assert open_sessions(registry, repo) == []
