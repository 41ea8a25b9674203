"""Credentials go only where the registry's own protection reaches: a Bearer realm never downgrades the
scheme, plain HTTP is accepted only for loopback (or the plain registry's own host), and ``--insecure``
covers the registry host alone, so a realm on another origin keeps full certificate verification."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelcrate import transfer
from modelcrate.content.remote import Credentials, RegistryClient, RemoteSettings
from modelcrate.content.remote.auth import Authenticator, Reply, Request
from modelcrate.errors import AuthError, RegistryError
from tests.support.registry import RegistryProcess
from tests.transport.conftest import FAST_RETRY
from tests.transport.scripted import Scripted
from tests.transport.test_tls import TLSProxy, make_ca, server_cert


def _tls_in_front(port: int, tmp: Path, name: str) -> tuple[TLSProxy, Path]:
    tmp.mkdir()
    ca_path, ca_key, ca = make_ca(tmp, name)
    cert, key = server_cert(tmp, ca_key, ca)
    return TLSProxy(port, cert, key), ca_path


@pytest.fixture
def token_tls(registry_factory, tmp_path: Path) -> Iterator[tuple[RegistryProcess, TLSProxy, Path]]:
    """registry:2 with token auth (its realm is the plain-HTTP token server) behind a TLS proxy."""
    reg = registry_factory(auth="token")
    proxy, ca = _tls_in_front(reg.port, tmp_path / "reg-tls", "registry-ca")
    yield reg, proxy, ca
    proxy.close()


def test_https_registry_with_an_http_realm_gets_no_credentials(token_tls, docker_config: Path) -> None:
    reg, proxy, ca = token_tls
    remote = RemoteSettings(ca_file=str(ca), docker_config=docker_config, retry=FAST_RETRY,
                            credentials=Credentials(reg.username, reg.password))
    with pytest.raises(AuthError, match="refused, the registry uses HTTPS but its token service is plain HTTP"):
        transfer.list_tags(f"127.0.0.1:{proxy.port}/team/m", remote=remote)
    assert reg.token_server.request_count == 0


def test_insecure_covers_the_registry_alone_not_a_realm_elsewhere(tmp_path: Path, docker_config: Path) -> None:
    hostile, registry = Scripted(), Scripted()
    hostile.routes["/token"] = lambda req: (200, {"Content-Type": "application/json"}, b'{"token": "t"}')
    realm_tls, _untrusted_ca = _tls_in_front(hostile.httpd.server_address[1], tmp_path / "realm", "realm-ca")
    registry.routes["/v2/"] = lambda req: (
        401, {"WWW-Authenticate": f'Bearer realm="https://127.0.0.1:{realm_tls.port}/token",service="s"'}, b"")
    registry.routes["/v2/team/m/tags/list"] = registry.routes["/v2/"]
    reg_tls, _ca = _tls_in_front(registry.httpd.server_address[1], tmp_path / "registry", "registry-ca")
    try:
        remote = RemoteSettings(insecure=True, docker_config=docker_config, retry=FAST_RETRY,
                                credentials=Credentials("me", "s3cret-password"))
        with pytest.raises(RegistryError, match="TLS certificate of 127.0.0.1:\\d+ is not trusted"):
            transfer.list_tags(f"127.0.0.1:{reg_tls.port}/team/m", remote=remote)
        assert registry.seen, "the registry itself was reached with --insecure"
        assert hostile.seen == [], "the realm on another origin received a request despite its bad certificate"
    finally:
        for server in (realm_tls, reg_tls):
            server.close()
        hostile.close()
        registry.close()


def _first_token_request(registry: str, scheme: str, realm: str) -> Request:
    auth = Authenticator(registry, Credentials("me", "s3cret"), registry_scheme=scheme)
    flow = auth.flow(Request("GET", f"{scheme}://{registry}/v2/"), ())
    next(flow)
    return flow.send(Reply(401, (f'Bearer realm="{realm}",service="s"',)))


@pytest.mark.parametrize(("registry", "scheme", "realm"), [
    ("registry.example.com", "https", "http://registry.example.com/token"),  # downgrade, same host
    ("registry.example.com", "http", "http://auth.example.com/token"),  # clear text to another host
    ("localhost:5000", "http", "http://auth.example.com/token"),  # loopback registry, remote realm
    ("127.0.0.1:5000", "https", "http://127.0.0.1:5001/token"),  # downgrade on loopback too
])
def test_realms_that_would_expose_the_credentials_are_refused(registry: str, scheme: str, realm: str) -> None:
    with pytest.raises(AuthError, match="refused") as err:
        _first_token_request(registry, scheme, realm)
    assert "s3cret" not in err.value.diagnostics()


@pytest.mark.parametrize(("registry", "scheme", "realm"), [
    ("registry.example.com", "https", "https://auth.example.com/token"),
    ("localhost:5000", "http", "http://127.0.0.1:5001/token"),
    ("registry.lan:5000", "http", "http://registry.lan:5001/token"),  # --plain-http: its own host
])
def test_realms_as_protected_as_the_registry_are_used(registry: str, scheme: str, realm: str) -> None:
    req = _first_token_request(registry, scheme, realm)
    assert req.kind == "token" and req.url.startswith(realm) and req.authorization


def test_the_plain_token_registry_on_loopback_still_works(token_registry: RegistryProcess, docker_config: Path) -> None:
    client = RegistryClient(token_registry.host, RemoteSettings(
        docker_config=docker_config, retry=FAST_RETRY,
        credentials=Credentials(token_registry.username, token_registry.password)))
    try:
        client.ping()
    finally:
        client.close()
