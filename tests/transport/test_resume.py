"""Interruptions, retries and timeouts, through the fault-injecting proxy in front of a real registry 2.8.2.

Byte counts come from the proxy: what the registry actually received (``c2s_body_bytes`` per request) and
what the client actually got (``s2c_bytes``).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from modelcrate import transfer
from modelcrate.content.remote import RegistryTarget, RemoteSettings, RetryPolicy, Timeout, TransportError
from modelcrate.errors import ModelcrateError, RegistryError
from modelcrate.format.descriptor import Descriptor
from modelcrate.settings import Settings
from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess
from tests.transport.conftest import client_for, model_files, write_model

BLOB = 3_000_000  # > 1 MiB: downloads go through the resuming, pipelined BlobStream
CHUNK = 256 * 1024  # a small upload chunk so a 1 MB blob takes several requests


@pytest.fixture
def proxy(registry: RegistryProcess) -> Iterator[FaultProxy]:
    with FaultProxy(registry.port) as p:
        yield p


@pytest.fixture
def blob(registry: RegistryProcess, repo: str, remote: RemoteSettings) -> tuple[Descriptor, bytes]:
    data = os.urandom(BLOB)
    desc = Descriptor.of("application/octet-stream", data)
    client_for(registry, remote).repository(repo, push=True).push(desc, io.BytesIO(data))
    return desc, data


def via(proxy: FaultProxy, repo: str, remote: RemoteSettings, *, push: bool = False, **changes: object
        ) -> RegistryTarget:
    return client_for(proxy.host, remote, **changes).repository(repo, push=push)


def upload_requests(proxy: FaultProxy) -> list:
    return [r for r in proxy.stats.requests if "/blobs/uploads/" in r.target and r.method in ("PATCH", "PUT")]


# ---- downloads ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["cut", "truncate", "reset"])
def test_interrupted_download_resumes_with_range(proxy: FaultProxy, repo: str, remote: RemoteSettings,
                                                 blob: tuple[Descriptor, bytes], fault: str) -> None:
    desc, data = blob
    target = via(proxy, repo, remote)
    assert target.exists(desc)
    proxy.reset_stats()
    if fault == "cut":
        proxy.cut("s2c", after=1_200_000)
    elif fault == "truncate":
        proxy.truncate(after=1_200_000)
    else:
        proxy.cut("s2c", after=1_200_000, abort=True)
    with target.fetch(desc) as stream:
        assert stream.read() == data
    assert proxy.stats.cuts == 1
    gets = [r for r in proxy.stats.requests if r.method == "GET"]
    assert len(gets) == 2  # the first GET, then one Range GET from where it broke
    # Nothing was read twice: the client read exactly the blob (the Range GET started where reading stopped).
    assert target.client.stats.downloaded == BLOB
    if fault != "reset":  # an RST also discards what sat unread in the client's socket buffer
        assert proxy.stats.s2c_bytes < BLOB + 4_000


def test_stalled_download_times_out_and_resumes(proxy: FaultProxy, repo: str, remote: RemoteSettings,
                                                blob: tuple[Descriptor, bytes]) -> None:
    desc, data = blob
    target = via(proxy, repo, remote, timeout=Timeout(connect=2, read=0.5))
    proxy.stall("s2c", after=1_000_000)  # until reset: only a new connection gets through
    started = time.monotonic()
    with target.fetch(desc) as stream:
        assert stream.read() == data
    assert time.monotonic() - started < 5
    # Only the one socket read that was under way when the timeout hit (at most 1 MiB) came twice.
    assert proxy.stats.stalls == 1 and proxy.stats.s2c_bytes < BLOB + 1024 * 1024 + 4_000


def test_oras_py_3_no_timeouts__a_dead_registry_fails_within_the_configured_timeout(
        proxy: FaultProxy, repo: str, remote: RemoteSettings, blob: tuple[Descriptor, bytes]) -> None:
    """oras-py sets no request timeouts and hangs on a stalled registry; modelcrate gives up, clearly."""
    desc, _data = blob
    target = via(proxy, repo, remote, timeout=Timeout(connect=2, read=0.5), retry=RetryPolicy(attempts=2,
                                                                                               backoff=0.05, cap=0.1))
    proxy.stall("s2c", after=100_000, times=50)
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"no answer within 0.5s \(timeout\)") as err:
        with target.fetch(desc) as stream:
            stream.read()
    assert err.value.timed_out
    assert time.monotonic() - started < 2 * 0.5 * 2 + 1.5  # two tries, each at most a connect + a read timeout
    proxy.reset()


def test_stall_before_any_answer_times_out(proxy: FaultProxy, repo: str, remote: RemoteSettings) -> None:
    target = via(proxy, repo, remote, timeout=Timeout(connect=2, read=0.3), retry=RetryPolicy(attempts=3,
                                                                                               backoff=0.01, cap=0.02))
    proxy.stall("s2c", after=0, times=50)
    started = time.monotonic()
    with pytest.raises(TransportError, match="timeout"):
        target.resolve("latest")
    assert 0.85 < time.monotonic() - started < 3  # three tries of 0.3 s
    proxy.reset()


def test_connection_refused_is_one_clear_error(remote: RemoteSettings) -> None:
    from tests.support.registry import find_free_port
    target = client_for(f"127.0.0.1:{find_free_port()}", remote).repository("x")
    with pytest.raises(TransportError, match="connection refused; is the registry running"):
        target.resolve("latest")


# ---- uploads --------------------------------------------------------------------------------------------
def test_failed_chunk_resumes_from_the_offset_the_registry_reports(
        proxy: FaultProxy, registry: RegistryProcess, repo: str, remote: RemoteSettings) -> None:
    data = os.urandom(1_000_000)  # 4 chunks of 256 KiB
    desc = Descriptor.of("application/octet-stream", data)
    target = via(proxy, repo, remote, push=True, chunk_size=CHUNK)
    # The second PATCH is answered 503 by the proxy (twice, once for its re-send) and never reaches the
    # registry; the client must ask where the upload stands and send only the missing part.
    proxy.inject(503, r"^PATCH /v2/.*/blobs/uploads/", times=1)
    proxy.inject(429, r"^PATCH /v2/.*/blobs/uploads/", headers={"Retry-After": "1"}, times=1)
    started = time.monotonic()
    target.push(desc, io.BytesIO(data))
    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    reached = [r for r in upload_requests(proxy) if r.injected is None]
    assert sum(r.body_bytes for r in reached) == len(data)  # not one byte twice
    statuses = [r for r in proxy.stats.requests if r.method == "GET" and "/blobs/uploads/" in r.target]
    assert len(statuses) == 2  # one status GET per failure
    with client_for(registry, remote).repository(repo).fetch(desc) as f:
        assert f.read() == data


def test_oras_py_7_blind_patch_retry__a_cut_chunk_is_never_resent_blindly(
        proxy: FaultProxy, registry: RegistryProcess, repo: str, tmp_path: Path, settings: Settings,
        remote: RemoteSettings, fresh_settings: Settings) -> None:
    """oras-py re-sends a failed PATCH as is; registry 2.8.2 ignores Content-Range and appends it twice.

    modelcrate asks the registry first. 2.8.2 cannot tell after a cut mid-body (its state token went stale:
    404 BLOB_UPLOAD_INVALID), so the cut blob starts over on a new session while blobs that finished are
    not sent again, and the result is exactly the right bytes."""
    first, second = os.urandom(700_000), os.urandom(900_000)
    root = write_model(tmp_path / "m", {"a.bin": first, "b.bin": second})
    rs = replace(remote, chunk_size=CHUNK)
    ref = f"{proxy.host}/{repo}:1"
    proxy.cut("c2s", after=700_000 + 500_000)  # mid-way through the second blob's chunks
    result = transfer.push_dir(root, ref, config=settings, remote=rs, concurrency=1)
    assert proxy.stats.cuts == 1 and result.rounds == 2
    patches = [r.target for r in proxy.stats.requests if r.method == "PATCH"]
    assert len(patches) == len(set(patches))  # no PATCH went twice to the same upload state
    sent = sum(r.body_bytes for r in upload_requests(proxy))
    assert sent < len(first) + 2 * len(second) + 10_000  # the finished blob went up once
    out = tmp_path / "out"
    transfer.pull_to_dir(f"{registry.host}/{repo}:1", out, remote=remote)
    assert model_files(out) == model_files(root)


def test_a_cut_small_blob_is_resent_from_memory_in_the_same_run(
        proxy: FaultProxy, registry: RegistryProcess, repo: str, remote: RemoteSettings) -> None:
    data = os.urandom(200_000)  # fits one request: the whole blob is in the buffer
    desc = Descriptor.of("application/octet-stream", data)
    target = via(proxy, repo, remote, push=True, chunk_size=CHUNK)
    assert not target.exists(desc)
    proxy.cut("c2s", after=100_000)
    target.push(desc, io.BytesIO(data))
    assert proxy.stats.cuts == 1
    with client_for(registry, remote).repository(repo).fetch(desc) as f:
        assert f.read() == data


def test_interrupted_pull_resumes_and_run_again_fetches_only_the_rest(
        proxy: FaultProxy, registry: RegistryProcess, repo: str, tmp_path: Path, settings: Settings,
        fresh_settings: Settings, remote: RemoteSettings) -> None:
    files = {"a.bin": os.urandom(2_500_000), "b.bin": os.urandom(2_500_000)}
    root = write_model(tmp_path / "m", files)
    transfer.push_dir(root, f"{registry.host}/{repo}:1", config=settings, remote=remote)
    proxy.cut("s2c", after=1_000_000, times=2)
    result = transfer.pull(f"{proxy.host}/{repo}:1", config=fresh_settings, remote=remote, concurrency=1)
    assert proxy.stats.cuts >= 1 and result.copied == 4
    assert proxy.stats.s2c_bytes < sum(map(len, files.values())) + 50_000  # nothing fetched twice
    out = tmp_path / "out"
    from modelcrate import api
    api.unpack(f"{proxy.host}/{repo}:1", out, config=fresh_settings)
    assert model_files(out) == files


# ---- retries --------------------------------------------------------------------------------------------
def test_5xx_and_429_on_idempotent_steps_are_retried(proxy: FaultProxy, registry: RegistryProcess, repo: str,
                                                     tmp_path: Path, settings: Settings, fresh_settings: Settings,
                                                     remote: RemoteSettings) -> None:
    root = write_model(tmp_path / "m", {"w.bin": os.urandom(50_000)})
    proxy.inject(500, r"^POST /v2/.*/blobs/uploads/", times=1)
    proxy.inject(502, r"^HEAD /v2/", times=2)
    proxy.inject(503, r"^PUT /v2/.*/manifests/", times=1)
    transfer.push_dir(root, f"{proxy.host}/{repo}:1", config=settings, remote=remote)
    proxy.inject(429, r"^GET /v2/.*/manifests/", headers={"Retry-After": "1"}, times=1)
    proxy.inject(503, r"^GET /v2/.*/blobs/sha256:", times=1)
    started = time.monotonic()
    transfer.pull(f"{proxy.host}/{repo}:1", config=fresh_settings, remote=remote)
    assert time.monotonic() - started >= 1.0
    assert proxy.pending_faults() == 0 and proxy.stats.injected == 6


def test_retries_give_up_with_the_registry_status(proxy: FaultProxy, repo: str, remote: RemoteSettings) -> None:
    proxy.inject(503, r".", times=100, body=b'{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}')
    with pytest.raises(RegistryError, match="answered 503 .*down for maintenance") as err:
        via(proxy, repo, remote).tags()
    assert err.value.status == 503 and proxy.stats.injected == remote.retry.attempts
    proxy.reset()


def test_a_patch_is_never_retried_on_its_own(proxy: FaultProxy, repo: str, remote: RemoteSettings) -> None:
    """The HTTP layer retries only idempotent requests; an upload step is recovered by asking first."""
    data = os.urandom(600_000)
    desc = Descriptor.of("application/octet-stream", data)
    target = via(proxy, repo, remote, push=True, chunk_size=CHUNK)
    proxy.inject(503, r"^PATCH ", times=100)
    with pytest.raises(ModelcrateError, match="503"):
        target.push(desc, io.BytesIO(data))
    patches = [r for r in proxy.stats.requests if r.method == "PATCH"]
    statuses = [r for r in proxy.stats.requests if r.method == "GET" and "/blobs/uploads/" in r.target]
    assert len(patches) == remote.retry.attempts and len(statuses) == remote.retry.attempts - 1
    proxy.reset()


def test_cli_reports_a_dead_registry_in_one_line(run_cli: Callable[..., object], proxy: FaultProxy, repo: str,
                                                 docker_config: Path) -> None:
    proxy.inject(503, r".", times=1000)
    done = run_cli("pull", f"{proxy.host}/{repo}:1", "--timeout", "1")
    assert done.returncode == 1  # type: ignore[attr-defined]
    lines = done.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "answered 503" in lines[0] and lines[0].startswith("modelcrate: error:")
    proxy.reset()


# ---- Ctrl-C ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("to_dir", [False, True], ids=["store", "pull-o"])
def test_ctrl_c_stops_at_once_puts_nothing_incomplete_in_place_and_the_next_run_resumes(
        proxy: FaultProxy, registry: RegistryProcess, repo: str, tmp_path: Path, settings: Settings,
        remote: RemoteSettings, home: Path, docker_config: Path, to_dir: bool) -> None:
    import signal
    import subprocess

    from modelcrate.content.layout import LocalStore
    from tests.conftest import cli_path

    big_bytes = os.urandom(3_000_000)
    root = write_model(tmp_path / "m", {"big.bin": big_bytes, "small.txt": b"s"})
    transfer.push_dir(root, f"{registry.host}/{repo}:1", config=settings, remote=remote)
    big = Descriptor.of("application/octet-stream", big_bytes)
    other = tmp_path / "other-home"
    out = tmp_path / "out"
    args = [cli_path(), "pull", f"{proxy.host}/{repo}:1", "--timeout", "60"] + (["-o", str(out)] if to_dir else [])
    env = {**os.environ, "MODELCRATE_HOME": str(other), "DOCKER_CONFIG": str(docker_config)}
    proxy.stall("s2c", after=1_500_000, times=20)  # the big blob hangs half-way, until the proxy is reset
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 20
    while proxy.stats.stalls == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proxy.stats.stalls == 1
    time.sleep(0.2)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=20)
    assert time.monotonic() - started < 3  # not after the 60 s read timeout
    assert proc.returncode == 130 and stderr.strip().splitlines() == [
        "modelcrate: error: interrupted; nothing incomplete was put in place; run it again to resume"]
    proxy.reset()
    if to_dir:  # no file in place; partial downloads are hidden beside where they go (small.txt's is whole)
        assert all(p.name.startswith(".") and p.name.endswith(".partial") for p in out.iterdir())
        kept = (out / f".big.bin.{big.digest.split(':')[1]}.partial").read_bytes()
    else:
        store = LocalStore(other)
        assert store.entries() == [] and not store.has_blob(big.digest)
        (partial,) = store.root.joinpath("ingest").iterdir()
        kept = partial.read_bytes()
    assert 0 < len(kept) < len(big_bytes) and kept == big_bytes[:len(kept)]  # a true prefix
    proxy.reset_stats()
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert proxy.stats.s2c_bytes < len(big_bytes) - len(kept) + 200_000  # only the rest came down
    if to_dir:
        assert sorted(p.name for p in out.iterdir()) == ["big.bin", "small.txt"]
        assert (out / "big.bin").read_bytes() == big_bytes
    else:
        assert LocalStore(other).has_blob(big.digest)
        assert list(LocalStore(other).root.joinpath("ingest").iterdir()) == []
