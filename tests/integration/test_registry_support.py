"""Proves the real-registry test support (tests/support/) works, using only the stdlib HTTP client."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest

from tests.support import registry as registry_mod
from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess
from tests.support.token_server import TokenServer, TokenSigner

Response = tuple[int, http.client.HTTPMessage, bytes]


def call(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    """One request on a fresh connection; everything is closed before returning."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        try:
            return resp.status, resp.headers, resp.read()
        finally:
            resp.close()
    finally:
        conn.close()


def path_of(location: str) -> str:
    """Registry Locations are absolute URLs; keep path + query so they work through a proxy."""
    u = urlsplit(location)
    return u.path + ("?" + u.query if u.query else "")


def push_blob(base: str, repo: str, data: bytes, headers: dict[str, str] | None = None) -> str:
    """Monolithic upload: POST to open a session, PUT ?digest= with the bytes."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, hdrs, _ = call(base, "POST", f"/v2/{repo}/blobs/uploads/", b"", headers)
    assert status == 202, status
    loc = path_of(hdrs["Location"])
    sep = "&" if "?" in loc else "?"
    put_headers = {"Content-Type": "application/octet-stream", **(headers or {})}
    status, hdrs, _ = call(base, "PUT", f"{loc}{sep}digest={digest}", data, put_headers)
    assert status == 201, status
    assert hdrs["Docker-Content-Digest"] == digest
    return digest


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def fetch_token(reg: RegistryProcess, *scopes: str, password: str | None = None) -> str:
    ts = reg.token_server
    assert ts is not None
    query = urlencode([("service", ts.service)] + [("scope", s) for s in scopes])
    req = urllib.request.Request(f"{ts.realm}?{query}", headers=basic(reg.username, password or reg.password))
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.load(resp)
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == ts.expires_in
    return body["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --------------------------------------------------------------------------- CI rule


def test_require_registry_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_mod, "registry_binary", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        registry_mod.require_registry()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        registry_mod.require_registry()


# --------------------------------------------------------------------------- plain registry


@pytest.mark.registry
def test_registry_answers_v2(registry: RegistryProcess) -> None:  # noqa: F811
    status, headers, _ = call(registry.url, "GET", "/v2/")
    assert status == 200
    assert headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.url == f"http://{registry.host}" and registry.host == f"127.0.0.1:{registry.port}"


@pytest.mark.registry
def test_monolithic_blob_upload_and_get(registry: RegistryProcess) -> None:  # noqa: F811
    data = os.urandom(5000)
    digest = push_blob(registry.url, "support/mono", data)
    status, headers, body = call(registry.url, "GET", f"/v2/support/mono/blobs/{digest}")
    assert status == 200 and body == data
    assert headers["Docker-Content-Digest"] == digest
    # storage_dir/blob_path point at the filesystem driver's copy.
    assert registry.blob_path(digest).read_bytes() == data


@pytest.mark.registry
def test_tampered_blob_is_served_as_is(registry_factory) -> None:  # noqa: F811
    # Quirk worth knowing: registry 2.8.2 does not re-hash blobs on read, so a
    # client must verify digests itself. This is what blob_path() is for.
    reg = registry_factory()
    data = b"original bytes " * 100
    digest = push_blob(reg.url, "support/tamper", data)
    reg.blob_path(digest).write_bytes(b"X" * len(data))
    status, headers, body = call(reg.url, "GET", f"/v2/support/tamper/blobs/{digest}")
    assert status == 200 and headers["Docker-Content-Digest"] == digest
    assert body == b"X" * len(data)


@pytest.mark.registry
def test_stop_ends_process_and_cleans_up(registry_factory) -> None:  # noqa: F811
    reg = registry_factory()
    pid, workdir, url = reg.pid, reg.workdir, reg.url
    assert pid is not None and workdir.is_dir()
    reg.stop()
    assert not workdir.exists()
    with pytest.raises(OSError):
        call(url, "GET", "/v2/", timeout=2)


@pytest.mark.registry
def test_extra_config_is_merged(registry_factory) -> None:  # noqa: F811
    reg = registry_factory(extra_config={"http": {"headers": {"X-Modelcrate-Test": ["yes"]}}})
    status, headers, _ = call(reg.url, "GET", "/v2/")
    assert status == 200 and headers["X-Modelcrate-Test"] == "yes"


# --------------------------------------------------------------------------- htpasswd


@pytest.mark.registry
def test_htpasswd_registry(htpasswd_registry: RegistryProcess) -> None:  # noqa: F811
    reg = htpasswd_registry
    status, headers, _ = call(reg.url, "GET", "/v2/")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic realm=")
    assert call(reg.url, "GET", "/v2/", headers=basic(reg.username, reg.password))[0] == 200
    assert call(reg.url, "GET", "/v2/", headers=basic(reg.username, "wrong"))[0] == 401
    data = b"basic auth blob"
    digest = push_blob(reg.url, "support/basic", data, basic(reg.username, reg.password))
    assert call(reg.url, "GET", f"/v2/support/basic/blobs/{digest}", headers=basic(reg.username, reg.password))[2] == data


# --------------------------------------------------------------------------- token auth


@pytest.mark.registry
def test_token_challenge_and_bearer_access(token_registry: RegistryProcess) -> None:  # noqa: F811
    reg, ts = token_registry, token_registry.token_server
    assert ts is not None
    status, headers, _ = call(reg.url, "GET", "/v2/")
    assert status == 401
    challenge = headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{ts.realm}"' in challenge and f'service="{ts.service}"' in challenge
    before = ts.request_count
    token = fetch_token(reg)
    assert ts.request_count == before + 1
    assert call(reg.url, "GET", "/v2/", headers=bearer(token))[0] == 200


@pytest.mark.registry
def test_token_push_and_pull_with_scope(token_registry: RegistryProcess) -> None:  # noqa: F811
    reg, ts = token_registry, token_registry.token_server
    assert ts is not None
    token = fetch_token(reg, "repository:support/tok:pull,push")
    assert ts.requests[-1].scopes == ["repository:support/tok:pull,push"]
    assert ts.requests[-1].granted == [{"type": "repository", "name": "support/tok", "actions": ["pull", "push"]}]
    data = b"pushed with a bearer token"
    digest = push_blob(reg.url, "support/tok", data, bearer(token))
    status, _, body = call(reg.url, "GET", f"/v2/support/tok/blobs/{digest}", headers=bearer(token))
    assert status == 200 and body == data
    # A pull-only token must not be able to open an upload: the registry checks the claims.
    pull_only = fetch_token(reg, "repository:support/tok:pull")
    status, headers, _ = call(reg.url, "POST", "/v2/support/tok/blobs/uploads/", b"", bearer(pull_only))
    assert status == 401
    # Registry 2.8.2 lists the actions in random order (Go map): compare as a set.
    scope = headers["WWW-Authenticate"].split('scope="', 1)[1].split('"', 1)[0]
    assert scope.rsplit(":", 1)[0] == "repository:support/tok"
    assert set(scope.rsplit(":", 1)[1].split(",")) == {"pull", "push"}
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    # A token for another repository doesn't open this one either.
    other = fetch_token(reg, "repository:support/other:pull")
    assert call(reg.url, "GET", f"/v2/support/tok/blobs/{digest}", headers=bearer(other))[0] == 401


@pytest.mark.registry
def test_token_server_rejects_wrong_password(token_registry: RegistryProcess) -> None:  # noqa: F811
    ts = token_registry.token_server
    assert ts is not None
    with pytest.raises(urllib.error.HTTPError) as err:
        fetch_token(token_registry, "repository:support/x:pull", password="wrong")
    err.value.close()
    assert err.value.code == 401
    assert ts.requests[-1].status == 401 and ts.requests[-1].user == token_registry.username


@pytest.mark.registry
def test_registry_rejects_token_from_foreign_key(token_registry: RegistryProcess) -> None:  # noqa: F811
    # Proves the x5c chain is really checked against rootcertbundle.
    ts = token_registry.token_server
    assert ts is not None
    genuine = ts.issue("someone", [])
    assert call(token_registry.url, "GET", "/v2/", headers=bearer(genuine))[0] == 200
    rogue = TokenServer("u", "p", service=ts.service, issuer=ts.issuer)  # never started: just its signer
    rogue.signer = TokenSigner()
    assert call(token_registry.url, "GET", "/v2/", headers=bearer(rogue.issue("someone", [])))[0] == 401


@pytest.mark.registry
def test_rs256_tokens_work(registry_factory) -> None:  # noqa: F811
    reg = registry_factory(auth="token", token_options={"algorithm": "RS256"})
    token = fetch_token(reg, "repository:support/rsa:pull,push")
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "RS256"
    assert push_blob(reg.url, "support/rsa", b"rsa", bearer(token)).startswith("sha256:")


# --------------------------------------------------------------------------- fault proxy


@pytest.fixture
def big_blob(registry: RegistryProcess) -> Iterator[tuple[str, bytes]]:  # noqa: F811
    data = os.urandom(300_000)
    yield push_blob(registry.url, "support/big", data), data


@pytest.mark.registry
def test_proxy_passes_through_and_counts(fault_proxy: FaultProxy, big_blob: tuple[str, bytes]) -> None:  # noqa: F811
    digest, data = big_blob
    status, _, body = call(fault_proxy.url, "GET", f"/v2/support/big/blobs/{digest}")
    assert status == 200 and body == data
    stats = fault_proxy.stats
    assert stats.connections == 1
    assert stats.s2c_bytes > len(data)  # body plus response head
    assert stats.c2s_body_bytes == 0
    assert [r.method for r in stats.requests] == ["GET"]


@pytest.mark.registry
def test_proxy_counts_upload_body_bytes(fault_proxy: FaultProxy) -> None:  # noqa: F811
    data = os.urandom(70_000)
    digest = push_blob(fault_proxy.url, "support/count", data)
    puts = [r for r in fault_proxy.stats.requests if r.method == "PUT"]
    assert len(puts) == 1 and puts[0].body_bytes == len(data)
    fault_proxy.reset_stats()
    # A HEAD "is it there already?" check sends no body at all.
    assert call(fault_proxy.url, "HEAD", f"/v2/support/count/blobs/{digest}")[0] == 200
    assert fault_proxy.stats.c2s_body_bytes == 0 and fault_proxy.stats.c2s_bytes > 0


@pytest.mark.registry
def test_proxy_cut_mid_download_gives_short_read(fault_proxy: FaultProxy, big_blob: tuple[str, bytes]) -> None:  # noqa: F811
    digest, data = big_blob
    fault_proxy.cut("s2c", after=100_000)
    with pytest.raises(http.client.IncompleteRead) as err:
        call(fault_proxy.url, "GET", f"/v2/support/big/blobs/{digest}")
    assert 0 < len(err.value.partial) < len(data)
    assert fault_proxy.stats.cuts == 1 and fault_proxy.pending_faults() == 0
    # Once only: the retry goes through.
    assert call(fault_proxy.url, "GET", f"/v2/support/big/blobs/{digest}")[2] == data


@pytest.mark.registry
def test_proxy_truncate_and_abort(fault_proxy: FaultProxy, big_blob: tuple[str, bytes]) -> None:  # noqa: F811
    digest, data = big_blob
    fault_proxy.truncate(after=50_000)
    with pytest.raises(http.client.IncompleteRead) as err:
        call(fault_proxy.url, "GET", f"/v2/support/big/blobs/{digest}")
    assert len(err.value.partial) < len(data)
    fault_proxy.cut("s2c", after=50_000, abort=True)
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        call(fault_proxy.url, "GET", f"/v2/support/big/blobs/{digest}")
    assert fault_proxy.stats.cuts == 2


@pytest.mark.registry
def test_proxy_cut_for_k_connections(fault_proxy: FaultProxy, big_blob: tuple[str, bytes]) -> None:  # noqa: F811
    digest, data = big_blob
    fault_proxy.cut("s2c", after=1000, times=2)
    for _ in range(2):
        with pytest.raises(http.client.IncompleteRead):
            call(fault_proxy.url, "GET", f"/v2/support/big/blobs/{digest}")
    assert call(fault_proxy.url, "GET", f"/v2/support/big/blobs/{digest}")[2] == data
    assert fault_proxy.stats.connections == 3 and fault_proxy.stats.cuts == 2


@pytest.mark.registry
def test_proxy_fault_hits_a_kept_alive_connection(fault_proxy: FaultProxy, big_blob: tuple[str, bytes]) -> None:  # noqa: F811
    digest, _ = big_blob
    conn = http.client.HTTPConnection("127.0.0.1", fault_proxy.port, timeout=10)
    try:
        conn.request("GET", "/v2/")
        with conn.getresponse() as resp:
            assert resp.status == 200 and resp.read()
        fault_proxy.cut("s2c", after=2000)  # armed while the connection sits idle
        conn.request("GET", f"/v2/support/big/blobs/{digest}")
        with conn.getresponse() as resp, pytest.raises(http.client.IncompleteRead):
            resp.read()
    finally:
        conn.close()
    assert fault_proxy.stats.connections == 1 and fault_proxy.stats.cuts == 1


@pytest.mark.registry
def test_proxy_cut_mid_upload(fault_proxy: FaultProxy, registry: RegistryProcess) -> None:  # noqa: F811
    data = os.urandom(1_000_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, hdrs, _ = call(fault_proxy.url, "POST", "/v2/support/cutup/blobs/uploads/", b"")
    assert status == 202
    fault_proxy.cut("c2s", after=200_000)
    with pytest.raises((OSError, http.client.HTTPException)):
        call(fault_proxy.url, "PUT", f"{path_of(hdrs['Location'])}&digest={digest}", data)
    put = fault_proxy.stats.requests[-1]
    assert put.method == "PUT" and put.body_bytes < 200_000
    assert call(registry.url, "HEAD", f"/v2/support/cutup/blobs/{digest}")[0] == 404


@pytest.mark.registry
def test_proxy_injects_503_then_passes(fault_proxy: FaultProxy) -> None:  # noqa: F811
    fault_proxy.inject(503, r"^GET /v2/ ", headers={"Retry-After": "2"}, body=b"busy")
    status, headers, body = call(fault_proxy.url, "GET", "/v2/")
    assert (status, headers["Retry-After"], body) == (503, "2", b"busy")
    assert call(fault_proxy.url, "GET", "/v2/")[0] == 200
    assert [r.injected for r in fault_proxy.stats.requests] == [503, None]


@pytest.mark.registry
def test_proxy_injected_put_never_reaches_registry(fault_proxy: FaultProxy, registry: RegistryProcess) -> None:  # noqa: F811
    data = os.urandom(40_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, hdrs, _ = call(fault_proxy.url, "POST", "/v2/support/inj/blobs/uploads/", b"")
    assert status == 202
    put_path = f"{path_of(hdrs['Location'])}&digest={digest}"
    fault_proxy.inject(429, r"^PUT /v2/support/inj/", headers={"Retry-After": "1"})
    assert call(fault_proxy.url, "PUT", put_path, data)[0] == 429
    assert fault_proxy.stats.c2s_body_bytes == 0  # the body was swallowed, not forwarded
    assert call(registry.url, "HEAD", f"/v2/support/inj/blobs/{digest}")[0] == 404
    # The upload session is untouched, so retrying the same PUT completes it.
    assert call(fault_proxy.url, "PUT", put_path, data)[0] == 201
    assert fault_proxy.stats.c2s_body_bytes == len(data)


@pytest.mark.registry
def test_proxy_inject_after_chunked_request_on_same_connection(fault_proxy: FaultProxy) -> None:  # noqa: F811
    # The request framer must follow a chunked body to find the next request line.
    status, hdrs, _ = call(fault_proxy.url, "POST", "/v2/support/chunk/blobs/uploads/", b"")
    assert status == 202
    conn = http.client.HTTPConnection("127.0.0.1", fault_proxy.port, timeout=10)
    try:
        chunks = [os.urandom(3000), os.urandom(5000)]
        conn.request("PATCH", path_of(hdrs["Location"]), body=iter(chunks), encode_chunked=True)
        with conn.getresponse() as resp:
            resp.read()
            assert resp.status == 202
        fault_proxy.inject(503, r"^GET /v2/ ")
        conn.request("GET", "/v2/")
        with conn.getresponse() as resp:
            resp.read()
            assert resp.status == 503
    finally:
        conn.close()
    patch = fault_proxy.stats.requests[1]
    assert patch.method == "PATCH" and patch.body_bytes > 8000  # data plus chunk framing
    assert fault_proxy.stats.connections == 2


@pytest.mark.registry
def test_proxy_stall_until_reset(fault_proxy: FaultProxy) -> None:  # noqa: F811
    fault_proxy.stall("s2c", after=0)
    with pytest.raises(TimeoutError):
        call(fault_proxy.url, "GET", "/v2/", timeout=0.5)
    assert fault_proxy.stats.stalls == 1
    fault_proxy.reset()
    assert call(fault_proxy.url, "GET", "/v2/")[0] == 200


@pytest.mark.registry
def test_proxy_stall_for_seconds(fault_proxy: FaultProxy) -> None:  # noqa: F811
    fault_proxy.stall("c2s", after=0, seconds=0.5)
    started = time.monotonic()
    assert call(fault_proxy.url, "GET", "/v2/")[0] == 200
    assert time.monotonic() - started >= 0.45


@pytest.mark.registry
def test_proxy_close_is_bounded_with_stalled_connection(registry: RegistryProcess) -> None:  # noqa: F811
    proxy = FaultProxy(registry.port)
    proxy.stall("s2c")
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request("GET", "/v2/")
        deadline = time.monotonic() + 5
        while proxy.stats.stalls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # wait for the stall to engage
        assert proxy.stats.stalls == 1
        started = time.monotonic()
        proxy.close()
        assert time.monotonic() - started < 5
        with pytest.raises((OSError, http.client.HTTPException)):
            conn.getresponse()
    finally:
        conn.close()
    assert not proxy._accept_thread.is_alive()
