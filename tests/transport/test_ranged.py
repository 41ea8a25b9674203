"""Big blobs come down as parallel Range requests (content/remote/download.py RangedStream), hashed in
order: verified like one stream, resumed inside a piece after a cut, one stream where Range is ignored,
memory fixed by the client's piece pool."""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from modelcrate.content.remote import RemoteSettings
from modelcrate.errors import DigestMismatch
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


def _fetch(host: str, settings: RemoteSettings, repo: str, desc: Descriptor) -> tuple[bytes, int]:
    client = client_for(host, settings)
    try:
        with client.repository(repo).fetch(desc) as stream:
            data = stream.read()
        assert client.pieces._made <= settings.download_streams + 1  # memory: the pool's bound
        return data, client.stats.downloaded
    finally:
        client.close()


def test_a_big_blob_arrives_as_parallel_pieces_and_is_verified(registry: RegistryProcess, repo: str,
                                                               ranged: RemoteSettings) -> None:
    data = os.urandom(3_000_000)
    desc = _push(registry.host, ranged, repo, data)
    with FaultProxy(registry.port) as proxy:
        got, received = _fetch(proxy.host, ranged, repo, desc)
        gets = [r for r in proxy.stats.requests if r.method == "GET" and desc.digest in r.target]
    assert got == data and received == len(data)
    assert len(gets) == -(-len(data) // PIECE)  # one request per piece
    assert proxy.stats.connections >= 2  # on several connections


def test_a_cut_inside_a_piece_continues_from_the_byte_reached(registry: RegistryProcess, repo: str,
                                                              ranged: RemoteSettings) -> None:
    data = os.urandom(3_000_000)
    desc = _push(registry.host, ranged, repo, data)
    with FaultProxy(registry.port) as proxy:
        proxy.cut("s2c", after=PIECE + PIECE // 2, times=2)
        got, received = _fetch(proxy.host, ranged, repo, desc)
        assert proxy.stats.cuts >= 1
    assert got == data
    assert received == len(data)  # nothing was fetched twice: each piece went on from its byte


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


def test_pieces_that_hash_wrong_are_refused_before_the_last_byte_is_handed_over(
        servers: tuple[Scripted, Scripted], ranged: RemoteSettings) -> None:
    registry, _ = servers
    data = os.urandom(2_500_000)
    desc = Descriptor.of("application/octet-stream", data)
    bad = bytearray(data)
    bad[2_000_000] ^= 1
    _range_server(registry, f"/v2/t/bad/blobs/{desc.digest}", bytes(bad), honour=True)
    client = client_for(registry.host, ranged)
    try:
        with client.repository("t/bad").fetch(desc) as stream:
            handed = 0
            with pytest.raises(DigestMismatch):
                while chunk := stream.read(65536):
                    handed += len(chunk)
        assert handed < len(data)
        assert hashlib.sha256(data).hexdigest() in desc.digest
    finally:
        client.close()


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
