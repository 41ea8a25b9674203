"""Big blobs come down straight into their file (content/remote/segmented.py): one stream while it keeps
up, more ``Range`` streams when each connection is paced, hashed in order from the file; resumed inside a
range after a cut and across runs from a kept prefix; one stream where Range is ignored; a wrong digest
keeps nothing."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from modelcrate.content.remote import RemoteSettings
from modelcrate.errors import DigestMismatch, RegistryError
from modelcrate.format.descriptor import Descriptor
from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess
from tests.transport.conftest import client_for
from tests.transport.scripted import Scripted, servers  # noqa: F401  (servers is a fixture)

PIECE = 256 * 1024


@pytest.fixture
def ranged(remote: RemoteSettings) -> RemoteSettings:
    return replace(remote, ranged_threshold=1 << 20, range_piece=PIECE, download_streams=4)


def _push(reg_host: str, settings: RemoteSettings, repo: str, data: bytes) -> Descriptor:
    desc = Descriptor.of("application/octet-stream", data)
    client = client_for(reg_host, settings)
    try:
        client.repository(repo, push=True).push(desc, io.BytesIO(data))
    finally:
        client.close()
    return desc


def _fetch(host: str, settings: RemoteSettings, repo: str, desc: Descriptor, prefix: bytes = b"") -> tuple[bytes, int]:
    """(the file's bytes after fetch_into, bytes received from the network); ``prefix`` is a kept partial."""
    client = client_for(host, settings)
    with tempfile.TemporaryFile() as f:
        f.write(prefix)
        f.flush()
        try:
            client.repository(repo).fetch_into(desc, f.fileno(), have=len(prefix))
        finally:
            client.close()
            f.seek(0)
            _fetch.left = f.read()  # type: ignore[attr-defined]
        return _fetch.left, client.stats.downloaded  # type: ignore[attr-defined]


def test_paced_connections_bring_more_streams_and_the_file_is_verified(registry: RegistryProcess, repo: str,
                                                                       ranged: RemoteSettings) -> None:
    data = os.urandom(4_000_000)
    desc = _push(registry.host, ranged, repo, data)
    with FaultProxy(registry.port) as proxy:
        proxy.rate_limit(2_000_000)  # 2 MB/s per connection: the hasher waits, so streams are added
        got, received = _fetch(proxy.host, ranged, repo, desc)
        gets = [r for r in proxy.stats.requests if r.method == "GET" and desc.digest in r.target]
    assert got == data and received == len(data)  # every byte once
    assert len(gets) >= 2 and proxy.stats.connections >= 2


def test_paced_pieces_are_handed_out_in_order_and_shrink_towards_the_end(
        registry: RegistryProcess, repo: str, ranged: RemoteSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """In order, so the hashed prefix keeps up with the streams (pieces that all finished at the end would
    leave their hashing until after the last byte); smaller at the end, so the streams finish together."""
    from modelcrate.content.remote import segmented

    given: list[tuple[int, int]] = []  # each stream's range as it was handed out (under the download's lock)
    real = segmented._Download.start

    def recording(self, first, rng):  # noqa: ANN001, ANN202
        given.append((rng.pos, rng.end))
        return real(self, first, rng)

    monkeypatch.setattr(segmented._Download, "start", recording)
    data = os.urandom(24 << 20)
    desc = _push(registry.host, ranged, repo, data)
    with FaultProxy(registry.port) as proxy:
        proxy.rate_limit(8 << 20)  # per connection: the hasher waits, so pieces go out
        got, received = _fetch(proxy.host, ranged, repo, desc)
    assert got == data and received == len(data)
    assert given[0] == (0, len(data))  # one plain GET first
    piece = 4 << 20  # four range_piece (here 1 MiB: no piece is smaller than a read block)
    chain = given[1:]
    chain = chain[:next(i for i, (_s, e) in enumerate(chain) if e == len(data)) + 1]  # then halves, if any
    # Each piece begins where the one before it ends, up to the end of the blob.
    assert all(b[0] == a[1] for a, b in zip(chain, chain[1:], strict=False)), given
    sizes = [e - s for s, e in chain]
    # Full pieces while plenty is left, then never larger (the last may take a sliver under a block along).
    assert len(chain) >= 4 and sizes[0] == piece and min(sizes) < piece, given
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True), given


def test_a_cut_inside_a_range_continues_from_the_byte_reached(registry: RegistryProcess, repo: str,
                                                              ranged: RemoteSettings) -> None:
    data = os.urandom(3_000_000)
    desc = _push(registry.host, ranged, repo, data)
    with FaultProxy(registry.port) as proxy:
        proxy.cut("s2c", after=PIECE + PIECE // 2, times=2)
        got, received = _fetch(proxy.host, ranged, repo, desc)
        assert proxy.stats.cuts >= 1
    assert got == data
    assert received == len(data)  # nothing was fetched twice: the stream went on from its byte


def test_a_kept_prefix_is_hashed_and_only_the_rest_is_fetched(registry: RegistryProcess, repo: str,
                                                             ranged: RemoteSettings) -> None:
    data = os.urandom(3_000_000)
    desc = _push(registry.host, ranged, repo, data)
    got, received = _fetch(registry.host, ranged, repo, desc, prefix=data[:1_800_000])
    assert got == data and received == len(data) - 1_800_000
    got, received = _fetch(registry.host, ranged, repo, desc, prefix=data)  # complete already: no request
    assert got == data and received == 0


def test_a_kept_prefix_with_wrong_bytes_is_fetched_again_from_the_start(registry: RegistryProcess, repo: str,
                                                                        ranged: RemoteSettings) -> None:
    data = os.urandom(3_000_000)
    desc = _push(registry.host, ranged, repo, data)
    wrong = bytearray(data[:2_000_000])
    wrong[1_000_000:1_100_000] = bytes(100_000)  # the hole a killed multi-stream run can leave
    got, received = _fetch(registry.host, ranged, repo, desc, prefix=bytes(wrong))
    assert got == data and received == len(data) - 2_000_000 + len(data)


def test_a_download_that_gives_up_keeps_a_true_prefix_for_the_next_run(registry: RegistryProcess, repo: str,
                                                                     ranged: RemoteSettings) -> None:
    data = os.urandom(3_000_000)
    desc = _push(registry.host, ranged, repo, data)
    with FaultProxy(registry.port) as proxy:
        proxy.cut("s2c", after=1_200_000, times=1)
        proxy.cut("s2c", after=0, times=100)  # every retry fails too
        with pytest.raises(RegistryError):
            _fetch(proxy.host, replace(ranged, retry=replace(ranged.retry, attempts=2)), repo, desc)
    kept = _fetch.left  # type: ignore[attr-defined]
    assert 0 < len(kept) < len(data) and kept == data[:len(kept)]


def _range_server(registry: Scripted, path: str, body: bytes, *, honour: bool) -> None:
    def route(req):  # noqa: ANN001, ANN202
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", req.headers.get("Range") or "")
        if not honour or not match:
            return 200, {"Content-Type": "application/octet-stream"}, body
        start, end = int(match[1]), int(match[2] or len(body) - 1)
        return 206, {"Content-Range": f"bytes {start}-{end}/{len(body)}"}, body[start:end + 1]

    registry.routes[path] = route


def test_a_registry_that_ignores_range_is_read_as_one_stream(servers: tuple[Scripted, Scripted],
                                                             ranged: RemoteSettings) -> None:
    registry, _ = servers
    data = os.urandom(2_500_000)
    desc = Descriptor.of("application/octet-stream", data)
    _range_server(registry, f"/v2/t/plain/blobs/{desc.digest}", data, honour=False)
    got, _ = _fetch(registry.host, ranged, "t/plain", desc)
    assert got == data
    assert len([s for s in registry.seen if s[0] == "GET"]) == 1
    got, received = _fetch(registry.host, ranged, "t/plain", desc, prefix=data[:1_000_000])
    assert got == data and received == len(data) - 1_000_000  # the kept bytes were skipped, not stored twice


def test_bytes_that_hash_wrong_are_refused_and_nothing_is_kept(servers: tuple[Scripted, Scripted],
                                                              ranged: RemoteSettings) -> None:
    registry, _ = servers
    data = os.urandom(2_500_000)
    desc = Descriptor.of("application/octet-stream", data)
    bad = bytearray(data)
    bad[2_000_000] ^= 1
    _range_server(registry, f"/v2/t/bad/blobs/{desc.digest}", bytes(bad), honour=True)
    with pytest.raises(DigestMismatch):
        _fetch(registry.host, ranged, "t/bad", desc)
    assert _fetch.left == b""  # type: ignore[attr-defined]
    assert hashlib.sha256(data).hexdigest() in desc.digest


def test_a_ranged_pull_writes_the_same_files(registry: RegistryProcess, repo: str, ranged: RemoteSettings,
                                             tmp_path: Path, settings, pack_for) -> None:
    from modelcrate import transfer
    from tests.transport.conftest import model_files, write_model

    model = write_model(tmp_path / "m", {"w.safetensors": os.urandom(2_200_000), "x.bin": os.urandom(1_500_000)})
    ref = f"{registry.host}/{repo}:1"
    pack_for(model, ref)
    transfer.push(ref, config=settings, remote=ranged)
    transfer.pull_to_dir(ref, tmp_path / "out", config=settings, remote=ranged)
    assert model_files(tmp_path / "out") == model_files(model)


def test_a_paced_registry_that_ignores_range_gets_its_one_stream_back(servers: tuple[Scripted, Scripted],
                                                                     ranged: RemoteSettings) -> None:
    """The first split probes Range; answered 200, its range goes back to the first stream (a plain GET
    of the whole blob), which reads on to the end."""
    registry, _ = servers
    data = os.urandom(6_000_000)
    desc = Descriptor.of("application/octet-stream", data)
    _range_server(registry, f"/v2/t/plain/blobs/{desc.digest}", data, honour=False)
    with FaultProxy(registry.httpd.server_address[1]) as proxy:
        proxy.rate_limit(4_000_000)  # the hasher waits: a split is tried
        got, received = _fetch(proxy.host, ranged, "t/plain", desc)
    gets = [s for s in registry.seen if s[0] == "GET"]
    assert got == data and received == len(data)
    assert len(gets) == 2  # the whole blob once, and the probe whose 200 was not read
