"""How many requests a push and a referrer write cost, counted on the wire by the fault proxy (a real
registry 2.8.2 behind it) and by a scripted registry that has the OCI 1.1 referrers API."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelcrate.content import referrers
from modelcrate.content.memory import MemoryStore
from modelcrate.content.remote import RegistryClient, RegistryTarget, RemoteSettings
from modelcrate.graphcopy import copy
from modelcrate.format.descriptor import Descriptor, build_index
from modelcrate.format.mediatypes import OCI_INDEX, OCI_MANIFEST
from modelcrate.settings import Settings
from tests.support.artifacts import plain_manifest
from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess
from tests.transport.conftest import FAST_RETRY, client_for
from tests.transport.scripted import Scripted, servers  # noqa: F401  (servers is a fixture)


def test_a_push_costs_two_requests_per_new_blob(registry: RegistryProcess, repo: str, remote: RemoteSettings) -> None:
    blobs = [os.urandom(2000 + i) for i in range(3)] + [os.urandom(1_200_000)]  # one over the 1 MiB block
    src = MemoryStore("src")
    plain_manifest(src, layers=tuple(blobs), tag="1")
    with FaultProxy(registry.port) as proxy:
        client = client_for(proxy.host, remote)
        try:
            copy(src, "1", client.repository(repo, push=True), "1")
        finally:
            client.close()
        blob_requests = [r for r in proxy.stats.requests if "/blobs/" in r.target]
        posts = Counter(r.target for r in blob_requests if r.method == "POST")
        puts = [r for r in blob_requests if r.method == "PUT"]
    # No HEAD: the POST that opens each session asks "held already?" (mount from this repository) too.
    assert not [r for r in blob_requests if r.method == "HEAD"]
    assert len(posts) == 5 and set(posts.values()) == {1}  # config and four layers, each asked about once
    assert len(puts) == 5 and len(blob_requests) == 10  # and each uploaded once
    with FaultProxy(registry.port) as proxy:  # the same copy again: everything is there, nothing is sent
        client = client_for(proxy.host, remote)
        try:
            copy(src, "1", client.repository(repo, push=True), "1")
        finally:
            client.close()
        assert not [r for r in proxy.stats.requests if "/blobs/" in r.target]


def test_pushing_a_blob_the_registry_holds_reads_nothing_and_asks_once(
        registry: RegistryProcess, repo: str, remote: RemoteSettings) -> None:
    data = os.urandom(5000)
    desc = Descriptor.of("application/octet-stream", data)
    with FaultProxy(registry.port) as proxy:
        client = client_for(proxy.host, remote)
        try:
            target = client.repository(repo, push=True)
            target.push(desc, io.BytesIO(data))
            before = len(proxy.stats.requests)
            target.push(desc, io.BytesIO(b"never read"))  # the contract: existing content is not re-read
            again = proxy.stats.requests[before:]
        finally:
            client.close()
    assert len(again) == 1 and proxy.stats.c2s_body_bytes == len(data)


SUBJECT = Descriptor(OCI_MANIFEST, "sha256:" + "a" * 64, 100)
LISTED = [Descriptor(OCI_MANIFEST, "sha256:" + f"{i:x}" * 64, 200 + i) for i in range(1, 5)]


@pytest.fixture
def api_registry(servers: tuple[Scripted, Scripted]) -> Iterator[tuple[Scripted, RegistryTarget]]:  # noqa: F811
    """A scripted registry with the referrers API whose listing of SUBJECT spans two pages."""
    registry, _storage = servers
    first = f"/v2/m/referrers/{SUBJECT.digest}"
    pages = {first: (LISTED[:2], f"{first}?last=1"), f"{first}?last=1": (LISTED[2:], None)}

    def answer(req):  # type: ignore[no-untyped-def]
        entries, nxt = pages.get(req.path, ([], None))
        headers = {"Content-Type": OCI_INDEX}
        if nxt:
            headers["Link"] = f'<{nxt}>; rel="next"'
        return 200, headers, build_index(entries)

    registry.routes[first] = registry.routes["/v2/m/referrers/sha256:" + "0" * 64] = answer
    client = RegistryClient(registry.host, RemoteSettings(retry=FAST_RETRY))
    yield registry, client.repository("m")
    client.close()


def test_register_asks_about_the_referrers_api_once(api_registry: tuple[Scripted, RegistryTarget]) -> None:
    registry, target = api_registry
    for r in LISTED[:3]:
        referrers.register(target, SUBJECT, r)  # the registry indexes referrers itself: nothing to write
    asked = [p for _m, p, _h in registry.seen if "/referrers/" in p]
    assert len(asked) == 1  # one probe, then the answer is kept (no listing of the subject's referrers)
    assert target.client.referrers_capability.supported is True
    assert target.referrers_api(SUBJECT) == LISTED  # listing still works, both pages


def test_register_lists_nothing_once_a_listing_settled_the_probe(
        api_registry: tuple[Scripted, RegistryTarget]) -> None:
    registry, target = api_registry
    assert target.referrers_api(SUBJECT) == LISTED
    before = len(registry.seen)
    for r in LISTED:
        referrers.register(target, SUBJECT, r)
    assert registry.seen[before:] == []


def test_register_on_registry_2_8_2_probes_once_then_writes_the_fallback_index(
        registry: RegistryProcess, repo: str, remote: RemoteSettings) -> None:
    src = MemoryStore("src")
    root = plain_manifest(src, layers=(b"weights",), tag="1")
    with FaultProxy(registry.port) as proxy:
        client = client_for(proxy.host, remote)
        try:
            target = client.repository(repo, push=True)
            copy(src, "1", target, "1")
            for i in range(3):
                referrers.attach(target, root, artifact_type="application/vnd.example+json",
                                 blob=json.dumps({"n": i}).encode(), blob_media_type="application/json",
                                 annotations={"n": str(i)})
            probes = [r for r in proxy.stats.requests if "/referrers/" in r.target]
            assert client.referrers_capability.supported is False
            index = target.resolve(referrers.fallback_tag(root.digest))
            assert index.media_type == OCI_INDEX
            assert len(referrers.list_referrers(target, root)) == 3
        finally:
            client.close()
    assert len(probes) == 1


def test_a_registry_that_refuses_mount_parameters_still_gets_the_blobs(
        registry: RegistryProcess, repo: str, remote: RemoteSettings) -> None:
    src = MemoryStore("src")
    root = plain_manifest(src, layers=(os.urandom(3000), os.urandom(4000)), tag="1")
    with FaultProxy(registry.port) as proxy:
        proxy.inject(405, r"^POST /v2/.*/blobs/uploads/\?mount=", times=100)
        client = client_for(proxy.host, remote)
        try:
            copy(src, "1", client.repository(repo, push=True), "1")
        finally:
            client.close()
        refused = [r for r in proxy.stats.requests if r.injected == 405]
        plain = [r for r in proxy.stats.requests if r.method == "POST" and r.target.endswith("/blobs/uploads/")]
    assert len(refused) == len(plain) == 3  # config and two layers: one refused mount, one plain session each
    dst = MemoryStore("dst")
    client = client_for(registry, remote)
    try:
        copy(client.repository(repo), "1", dst, "1")
    finally:
        client.close()
    assert dst.blobs == src.blobs and dst.resolve("1") == root


def test_a_pull_by_tag_reads_the_manifest_once_and_each_blob_once(
        registry: RegistryProcess, repo: str, model_dir: Path, remote: RemoteSettings, tmp_path: Path) -> None:
    from modelcrate import transfer

    digest = transfer.push_dir(model_dir, f"{registry.host}/{repo}:1", remote=remote,
                               config=Settings(tmp_path / "home")).digest
    for into in ("dir", "store"):
        with FaultProxy(registry.port) as proxy:
            ref = f"{proxy.host}/{repo}:1"
            if into == "dir":
                got = transfer.pull_to_dir(ref, tmp_path / "out", remote=remote)
            else:
                got = transfer.pull(ref, config=Settings(tmp_path / "fresh"), remote=remote)
            seen = [(r.method, r.target) for r in proxy.stats.requests if r.target.startswith("/v2/" + repo)]
        assert got.digest == digest
        # One GET by tag resolves it and brings the manifest: no HEAD, no second GET by digest. (A pull
        # into the store also looks for the signatures: the referrers API, then the fallback tags.)
        manifests = [s for s in seen if "/manifests/" in s[1] and "/manifests/sha256-" not in s[1]]
        assert manifests == [("GET", f"/v2/{repo}/manifests/1")], into
        blob_gets = Counter(t for m, t in seen if "/blobs/" in t and m == "GET")
        # The four files; the store keeps the config too, which writing files does not need.
        assert len(blob_gets) == (4 if into == "dir" else 5) and set(blob_gets.values()) == {1}, into
        assert not [s for s in seen if "/blobs/" in s[1] and s[0] != "GET"], into
