"""``push DIR REF`` reads a big file once: it goes up while it is hashed, the manifest after it; an
unchanged re-push still sends no blob bytes (the stat-keyed digest cache), a file written while it is
read is an error, a wrong cached digest is caught and forgotten, and an interrupted upload resumes in the
next run. Against a real registry 2.8.2, byte counts from the fault proxy in front of it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from modelcrate import api, onepass, transfer
from modelcrate.content.remote import RemoteSettings
from modelcrate.content.remote.locations import UploadSessions
from modelcrate.errors import AlreadyExists, DigestMismatch, ModelcrateError, NotFound, caused_by
from modelcrate.filedigests import FILENAME, RACY_SECONDS, FileChanged, FileDigests, FileKey
from modelcrate.format.descriptor import Descriptor
from modelcrate.graphcopy import Progress
from modelcrate.settings import Settings
from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess
from tests.transport.conftest import client_for, model_files, sha, write_model
from tests.transport.test_resume_across_runs import open_sessions

CHUNK = 1 << 20
BIG = onepass.MIN_SIZE + 2 * CHUNK + 4321  # several upload requests at CHUNK bytes each
WEIGHTS = "weights.safetensors"


def settle() -> None:
    """Wait until files just written are old enough for their digests to be cached (the racy rule)."""
    time.sleep(RACY_SECONDS + 0.2)


def big_model(root: Path, **kw: object) -> Path:
    return write_model(root, {WEIGHTS: os.urandom(BIG), "config.json": b'{"hidden": 8}'}, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model with one big file, written long enough ago to be cached; tests must not change it."""
    root = big_model(tmp_path_factory.mktemp("settled") / "model")
    settle()
    return root


@pytest.fixture
def proxy(registry: RegistryProcess) -> Iterator[FaultProxy]:
    with FaultProxy(registry.port) as p:
        yield p


@pytest.fixture
def chunked(remote: RemoteSettings) -> RemoteSettings:
    return replace(remote, chunk_size=CHUNK)


def blob_bytes(proxy: FaultProxy) -> int:
    """Body bytes of blob upload requests that reached the registry."""
    return sum(r.body_bytes for r in proxy.stats.requests
               if "/blobs/uploads/" in r.target and r.method in ("PATCH", "PUT") and r.injected is None)


def bytes_read() -> int:
    """Bytes this process has read through read(2) and friends, files and sockets alike (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def weights_key(root: Path) -> FileKey:
    return FileKey.of(os.stat(root / WEIGHTS))


def test_a_big_file_is_read_once_and_the_model_is_the_one_pack_gives(
        settled: Path, proxy: FaultProxy, registry: RegistryProcess, repo: str, settings: Settings,
        chunked: RemoteSettings, remote: RemoteSettings, fresh_settings: Settings, tmp_path: Path) -> None:
    before = bytes_read()
    result = transfer.push_dir(settled, f"{proxy.host}/{repo}:1", config=settings, remote=chunked)
    read = bytes_read() - before
    assert BIG <= read < 1.5 * BIG  # hashing first and reading again to upload would read it twice
    assert BIG <= blob_bytes(proxy) < BIG + 16_000  # sent once
    uploads = [(r.method, r.body_bytes) for r in proxy.stats.requests if "/blobs/uploads/" in r.target
               and r.method in ("PATCH", "PUT") and r.body_bytes > 1000]
    assert uploads == [("PATCH", BIG - CHUNK), ("PUT", CHUNK)]  # one stream; the PUT naming the digest ends it
    assert result.digest == api.pack(settled, "packed:1", config=fresh_settings).descriptor.digest
    assert result.copied == 4 and result.bytes_copied == result.size  # 2 files, config, manifest
    assert FileDigests(settings.state_dir).get(weights_key(settled)) == sha((settled / WEIGHTS).read_bytes())
    out = tmp_path / "out"
    transfer.pull_to_dir(f"{registry.host}/{repo}:1", out, remote=remote)
    assert model_files(out) == model_files(settled)


def test_an_unchanged_re_push_sends_no_blob_bytes_and_a_new_repository_mounts(
        settled: Path, proxy: FaultProxy, repo: str, settings: Settings, chunked: RemoteSettings) -> None:
    first = transfer.push_dir(settled, f"{proxy.host}/{repo}:1", config=settings, remote=chunked)
    proxy.reset_stats()
    again = transfer.push_dir(settled, f"{proxy.host}/{repo}:1", config=settings, remote=chunked)
    assert blob_bytes(proxy) == 0 and again.bytes_copied == 0 and again.digest == first.digest
    proxy.reset_stats()
    elsewhere = transfer.push_dir(settled, f"{proxy.host}/{repo}-b:1", config=settings, remote=chunked)
    assert blob_bytes(proxy) == 0 and elsewhere.mounted == 3  # two files and the config
    assert elsewhere.digest == first.digest


def test_a_file_just_written_is_hashed_first_so_a_re_push_still_sends_nothing(
        proxy: FaultProxy, repo: str, settings: Settings, chunked: RemoteSettings, tmp_path: Path) -> None:
    root = big_model(tmp_path / "m")  # its ctime is "racily" recent: no digest may be cached for it
    transfer.push_dir(root, f"{proxy.host}/{repo}:1", config=settings, remote=chunked)
    assert FileDigests(settings.state_dir).get(weights_key(root)) is None
    proxy.reset_stats()
    again = transfer.push_dir(root, f"{proxy.host}/{repo}:1", config=settings, remote=chunked)
    assert blob_bytes(proxy) == 0 and again.bytes_copied == 0


def test_small_files_keep_the_hash_first_path_and_leave_no_cache(
        proxy: FaultProxy, repo: str, settings: Settings, chunked: RemoteSettings, model_dir: Path) -> None:
    transfer.push_dir(model_dir, f"{proxy.host}/{repo}:1", config=settings, remote=chunked)
    assert not (settings.state_dir / FILENAME).exists()


class _WritesOnce(Progress):
    """Writes into the file as soon as its upload has read some of it."""

    def __init__(self, path: Path) -> None:
        self.path, self.written = path, False

    def advance(self, desc: Descriptor, nbytes: int) -> None:
        if not self.written:
            self.written = True
            with open(self.path, "r+b") as f:
                f.seek(BIG - 1)
                f.write(b"\0")


def test_a_file_written_while_it_is_read_is_an_error_and_nothing_is_tagged(
        registry: RegistryProcess, repo: str, settings: Settings, chunked: RemoteSettings,
        remote: RemoteSettings, tmp_path: Path) -> None:
    root = big_model(tmp_path / "m")
    settle()
    key = weights_key(root)
    writer = _WritesOnce(root / WEIGHTS)
    with pytest.raises(FileChanged, match=f"{WEIGHTS} changed while it was being read"):
        transfer.push_dir(root, f"{registry.host}/{repo}:1", config=settings, remote=chunked, progress=writer)
    assert writer.written
    with pytest.raises(NotFound):
        client_for(registry, remote).repository(repo).resolve("1")
    assert FileDigests(settings.state_dir).get(key) is None and FileDigests(settings.state_dir).get(weights_key(root)) is None
    assert UploadSessions(registry.host, settings.state_dir).get(repo, key.text()) is None
    assert open_sessions(registry, repo) == []  # the session was cancelled, not left to the registry's purge


def test_a_wrong_cached_digest_is_refused_on_upload_and_forgotten(
        settled: Path, registry: RegistryProcess, repo: str, settings: Settings, chunked: RemoteSettings) -> None:
    digests = FileDigests(settings.state_dir)
    key = weights_key(settled)
    assert digests.put(key, sha(b"something else"), time.time_ns())
    with pytest.raises(ModelcrateError) as caught:  # the registry lacks that blob: the file is read, and refused
        transfer.push_dir(settled, f"{registry.host}/{repo}:1", config=settings, remote=chunked)
    assert caused_by(caught.value, DigestMismatch)
    assert digests.get(key) is None
    result = transfer.push_dir(settled, f"{registry.host}/{repo}:1", config=settings, remote=chunked)
    assert digests.get(key) == sha((settled / WEIGHTS).read_bytes()) != sha(b"something else")
    assert result.digest == api.pack(settled, "packed:1", config=Settings(settings.home / "other")).descriptor.digest


def test_an_upload_cut_before_its_last_request_resumes_in_the_next_run(
        settled: Path, proxy: FaultProxy, registry: RegistryProcess, repo: str, settings: Settings,
        chunked: RemoteSettings, remote: RemoteSettings, tmp_path: Path) -> None:
    ref = f"{proxy.host}/{repo}:1"
    proxy.cut_requests(r"^PUT .*/blobs/uploads/", times=1000)  # the network goes before the last chunk
    with pytest.raises(ModelcrateError):
        transfer.push_dir(settled, ref, config=settings, remote=chunked, rounds=1)
    sessions = UploadSessions(proxy.host, settings.state_dir)
    assert sessions.get(repo, weights_key(settled).text()) is not None
    proxy.reset()
    proxy.reset_stats()
    transfer.push_dir(settled, ref, config=settings, remote=chunked, rounds=1)  # "run it again"
    assert CHUNK <= blob_bytes(proxy) <= CHUNK + 16_000  # the last chunk, and the small files
    assert sessions.get(repo, weights_key(settled).text()) is None
    assert open_sessions(registry, repo) == []
    out = tmp_path / "out"
    transfer.pull_to_dir(f"{registry.host}/{repo}:1", out, remote=remote)
    assert model_files(out) == model_files(settled)


def test_a_refused_stream_is_sent_again_from_the_file_and_the_model_is_intact(
        settled: Path, proxy: FaultProxy, registry: RegistryProcess, repo: str, settings: Settings,
        chunked: RemoteSettings, remote: RemoteSettings, tmp_path: Path) -> None:
    proxy.inject(503, r"^PATCH ", times=1)  # answered by the proxy: the registry holds none of it
    result = transfer.push_dir(settled, f"{proxy.host}/{repo}:1", config=settings, remote=chunked)
    assert result.rounds == 1  # retried inside the request, after asking the registry what it holds
    patches = [(r.injected is None, r.body_bytes) for r in proxy.stats.requests if r.method == "PATCH"]
    assert patches[0][0] is False and patches[1:] == [(True, BIG - CHUNK)]
    out = tmp_path / "out"
    transfer.pull_to_dir(f"{registry.host}/{repo}:1", out, remote=remote)
    assert model_files(out) == model_files(settled)


def test_a_new_model_for_an_existing_version_tag_is_refused_before_any_blob_byte_is_sent(
        proxy: FaultProxy, repo: str, settings: Settings, chunked: RemoteSettings, tmp_path: Path) -> None:
    root = big_model(tmp_path / "m")
    transfer.push_dir(root, f"{proxy.host}/{repo}:1.0.0", config=settings, remote=chunked)
    (root / WEIGHTS).write_bytes(os.urandom(BIG))
    settle()  # old enough to be uploaded as it is hashed, were the version tag not there
    proxy.reset_stats()
    with pytest.raises(AlreadyExists, match="version tag '1.0.0' already names"):
        transfer.push_dir(root, f"{proxy.host}/{repo}:1.0.0", config=settings, remote=chunked)
    assert blob_bytes(proxy) == 0


# ---- the digest cache's own rules (no registry) ----------------------------------------------------------
@pytest.mark.parametrize("state", ["disk", "memory"])
def test_the_cache_answers_only_for_the_exact_stat_and_never_for_a_racy_file(tmp_path: Path, state: str) -> None:
    digests = FileDigests(tmp_path / "state" if state == "disk" else None)
    path = tmp_path / "f.bin"
    path.write_bytes(b"one")
    key = FileKey.of(os.stat(path))
    assert not digests.put(key, sha(b"one"), time.time_ns())  # changed just now: a later write could hide
    assert digests.get(key) is None
    assert digests.put(key, sha(b"one"), key.ctime_ns + int((RACY_SECONDS + 1) * 1e9))
    assert digests.get(key) == sha(b"one")
    for changed in (replace(key, size=4), replace(key, mtime_ns=key.mtime_ns + 1), replace(key, ctime_ns=key.ctime_ns + 1),
                    replace(key, ino=key.ino + 1)):
        assert digests.get(changed) is None
    digests.forget(key)
    assert digests.get(key) is None


def test_an_unusable_cache_is_simply_empty(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / FILENAME).write_bytes(b"not a database" * 100)
    digests = FileDigests(state)
    key = FileKey(1, 2, 3, 4, 5)
    assert not digests.put(key, sha(b"x"), 10**19) and digests.get(key) is None
