"""Behaviours registry 2.8.2 cannot show, against a small scripted HTTP server on 127.0.0.1: a blob
redirected to storage on another host (credentials must not follow), tag lists paginated with ``Link``,
and a registry that has the OCI 1.1 referrers API."""

from __future__ import annotations

import base64
import hashlib
import json
from http.server import BaseHTTPRequestHandler

from modelcrate.content.remote import Credentials, RegistryClient, RemoteSettings
from modelcrate.format.descriptor import Descriptor, build_index
from modelcrate.format.mediatypes import OCI_INDEX, OCI_MANIFEST
from tests.transport.conftest import FAST_RETRY
from tests.transport.scripted import Route, Scripted, servers  # noqa: F401  (servers is a fixture)

AUTH = "Basic " + base64.b64encode(b"me:s3cret").decode()


def basic_only(answer: Route) -> Route:
    def route(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if req.headers.get("Authorization") != AUTH:
            return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""
        return answer(req)
    return route


def test_a_blob_redirect_to_storage_elsewhere_does_not_carry_the_credentials(
        servers: tuple[Scripted, Scripted]) -> None:
    registry, storage = servers
    data = b"weights " * 200_000  # > 1 MiB: the streaming, resuming reader
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    registry.routes[f"/v2/m/blobs/{digest}"] = basic_only(
        lambda req: (307, {"Location": f"http://{storage.host}/bucket/blob?X-Signature=abc"}, b""))
    storage.routes["/bucket/blob"] = lambda req: (200, {"Content-Type": "application/octet-stream"}, data)
    client = RegistryClient(registry.host, RemoteSettings(credentials=Credentials("me", "s3cret"), retry=FAST_RETRY))
    with client.repository("m").fetch(Descriptor("application/octet-stream", digest, len(data))) as f:
        assert f.read() == data
    assert any(h.get("Authorization") == AUTH for _m, _p, h in registry.seen)
    assert storage.seen and all("Authorization" not in h for _m, _p, h in storage.seen)


def test_tags_follow_link_pagination_and_are_sorted(servers: tuple[Scripted, Scripted]) -> None:
    registry, _storage = servers
    pages = {None: (["b", "a"], "/v2/m/tags/list?n=2&last=b"), "b": (["d", "c"], "/v2/m/tags/list?n=2&last=d"),
             "d": (["e"], None)}

    def tags(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        last = req.path.partition("last=")[2] or None
        names, nxt = pages[last]
        headers = {"Content-Type": "application/json"}
        if nxt:
            headers["Link"] = f'<{nxt}>; rel="next"'
        return 200, headers, json.dumps({"name": "m", "tags": names}).encode()

    registry.routes["/v2/m/tags/list"] = tags
    assert RegistryClient(registry.host, RemoteSettings(retry=FAST_RETRY)).repository("m").tags() == list("abcde")


def test_a_registry_with_the_referrers_api_is_asked_once_and_believed(servers: tuple[Scripted, Scripted]) -> None:
    registry, _storage = servers
    subject = Descriptor(OCI_MANIFEST, "sha256:" + "a" * 64, 100)
    ref = Descriptor(OCI_MANIFEST, "sha256:" + "b" * 64, 200, artifact_type="application/vnd.dev.sigstore.bundle+json")
    index = build_index([ref])
    registry.routes[f"/v2/m/referrers/{subject.digest}"] = lambda req: (200, {"Content-Type": OCI_INDEX}, index)
    registry.routes[f"/v2/other/referrers/{subject.digest}"] = lambda req: (
        404, {"Content-Type": "application/json"},
        b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}')
    client = RegistryClient(registry.host, RemoteSettings(retry=FAST_RETRY))
    found = client.repository("m").referrers_api(subject)
    assert found == [ref] and found[0].artifact_type == ref.artifact_type
    assert client.repository("other").referrers_api(subject) == []  # supported, nothing there
    assert client.referrers_capability.supported is True
