"""The sans-I/O parts of the transport, with recorded headers: challenges, the auth flow, credentials,
retry timing, scheme choice. No sockets."""

from __future__ import annotations

import base64
import email.utils
import json
import os
import stat
import time
from collections.abc import Generator
from pathlib import Path

import pytest

from modelcrate.content.remote.auth import Authenticator, Reply, Request, merge_scopes, parse_challenges
from modelcrate.content.remote.credentials import Credentials, DockerConfig, config_dir
from modelcrate.content.remote.http import RetryPolicy, retry_after, shown_url
from modelcrate.content.remote.listing import next_link
from modelcrate.content.remote.settings import RemoteSettings, scheme_for
from modelcrate.content.remote.upload import range_end
from modelcrate.errors import AuthError, InvalidReference

# As sent by registry 2.8.2 (token auth) and docker hub.
BEARER = ('Bearer realm="https://auth.example/token",service="reg",scope="repository:team/m:pull,push",'
          'error="insufficient_scope"')
BASIC = 'Basic realm="modelcrate-test"'


def test_parse_challenges_handles_quotes_commas_and_several_schemes() -> None:
    got = parse_challenges([BEARER + ', Basic realm="a, \\"quoted\\" b"', "Negotiate"])
    assert [c.scheme for c in got] == ["bearer", "basic", "negotiate"]
    assert got[0].params == {"realm": "https://auth.example/token", "service": "reg",
                             "scope": "repository:team/m:pull,push", "error": "insufficient_scope"}
    assert got[1].params["realm"] == 'a, "quoted" b'
    assert parse_challenges(["BASIC Realm=x"])[0].params == {"realm": "x"}
    assert parse_challenges([""]) == []


def test_merge_scopes_unions_actions_per_resource() -> None:
    assert merge_scopes(["repository:a:push", "repository:a:pull repository:b:pull", "registry:catalog:*"]) == (
        "registry:catalog:*", "repository:a:pull,push", "repository:b:pull")
    assert merge_scopes(["repository:host:5000/x:pull"]) == ("repository:host:5000/x:pull",)


def drive(flow: Generator[Request, Reply, None], replies: dict[str, list[Reply]]) -> list[Request]:
    """Run a flow against canned replies keyed by request kind; return what it asked to send."""
    sent = []
    req = next(flow)
    while True:
        sent.append(req)
        try:
            req = flow.send(replies[req.kind].pop(0))
        except StopIteration:
            return sent


def api(url: str = "http://reg/v2/team/m/blobs/uploads/") -> Request:
    return Request("POST", url, {"Content-Type": "application/octet-stream"})


def test_basic_is_sent_after_the_first_challenge_and_then_pre_emptively() -> None:
    auth = Authenticator("reg", Credentials("u", "s3cret"))
    sent = drive(auth.flow(api(), ["repository:team/m:pull,push"]),
                 {"api": [Reply(401, (BASIC,)), Reply(202)]})
    assert [r.authorization for r in sent] == [None, "Basic " + base64.b64encode(b"u:s3cret").decode()]
    sent = drive(auth.flow(api(), ["repository:team/m:pull"]), {"api": [Reply(200)]})
    assert len(sent) == 1 and sent[0].authorization.startswith("Basic ")  # one request, body sent once


def test_wrong_basic_credentials_end_in_one_error_without_the_secret() -> None:
    auth = Authenticator("reg", Credentials("u", "s3cret"))
    flow = auth.flow(api(), [])
    with pytest.raises(AuthError, match="refused the credentials of user 'u'") as err:
        drive(flow, {"api": [Reply(401, (BASIC,)), Reply(401, (BASIC,))]})
    text = err.value.diagnostics()
    assert "s3cret" not in text and base64.b64encode(b"u:s3cret").decode() not in text
    assert "modelcrate login reg" in text


def test_no_credentials_says_how_to_log_in() -> None:
    with pytest.raises(AuthError, match="reg requires a login") as err:
        drive(Authenticator("reg", None).flow(api(), []), {"api": [Reply(401, (BASIC,))]})
    assert "modelcrate login reg" in err.value.diagnostics()


def test_bearer_token_is_fetched_once_per_scope_set_and_refreshed_when_it_expires() -> None:
    now = [1000.0]
    auth = Authenticator("reg", Credentials("u", "p"), clock=lambda: now[0])
    token = json.dumps({"token": "T1", "expires_in": 300}).encode()
    sent = drive(auth.flow(api(), ["repository:team/m:pull,push"]),
                 {"api": [Reply(401, (BEARER,)), Reply(202)], "token": [Reply(200, (), token)]})
    assert [r.kind for r in sent] == ["api", "token", "api"]
    assert sent[1].url == ("https://auth.example/token?service=reg&scope=repository%3Ateam%2Fm%3Apull%2Cpush")
    assert sent[1].authorization.startswith("Basic ") and sent[2].authorization == "Bearer T1"
    # Cached: the next request with the same scopes carries the token at once.
    sent = drive(auth.flow(api(), ["repository:team/m:push", "repository:team/m:pull"]), {"api": [Reply(202)]})
    assert [r.authorization for r in sent] == ["Bearer T1"]
    # A new scope set (a mount from another repository) is fetched before sending, not after a 401.
    mount = json.dumps({"access_token": "T2"}).encode()
    sent = drive(auth.flow(api(), ["repository:team/m:pull,push", "repository:team/src:pull"]),
                 {"api": [Reply(201)], "token": [Reply(200, (), mount)]})
    assert [r.kind for r in sent] == ["token", "api"] and "repository%3Ateam%2Fsrc%3Apull" in sent[0].url
    now[0] += 300  # past expiry (minus the safety margin)
    sent = drive(auth.flow(api(), ["repository:team/m:pull,push"]),
                 {"api": [Reply(202)], "token": [Reply(200, (), json.dumps({"token": "T3"}).encode())]})
    assert [r.authorization for r in sent][-1] == "Bearer T3"


def test_bearer_insufficient_scope_with_a_fitting_token_is_denied_not_looped() -> None:
    auth = Authenticator("reg", Credentials("u", "p"))
    token = json.dumps({"token": "T"}).encode()
    flow = auth.flow(api(), ["repository:team/m:pull,push"])
    with pytest.raises(AuthError, match="denied access: pull\\+push on team/m"):
        drive(flow, {"api": [Reply(401, (BEARER,)), Reply(401, (BEARER,))], "token": [Reply(200, (), token)]})
    with pytest.raises(AuthError, match="denied access"):
        drive(auth.flow(api(), ["repository:team/m:pull,push"]), {"api": [Reply(401, (BEARER,))]})


def test_token_service_refusing_the_password_is_one_error() -> None:
    auth = Authenticator("reg", Credentials("u", "wrong"))
    with pytest.raises(AuthError, match="refused the credentials"):
        drive(auth.flow(api(), []), {"api": [Reply(401, (BEARER,))], "token": [Reply(401)]})


def test_unsupported_scheme_is_reported() -> None:
    with pytest.raises(AuthError, match="asks for negotiate"):
        drive(Authenticator("reg", None).flow(api(), []), {"api": [Reply(401, ("Negotiate",))]})


def test_credentials_repr_hides_the_password() -> None:
    assert "s3cret" not in repr(Credentials("u", "s3cret"))


# ---- docker config --------------------------------------------------------------------------------------
def test_docker_config_location_honours_docker_config(tmp_path: Path) -> None:
    assert config_dir({"DOCKER_CONFIG": str(tmp_path / "dc"), "HOME": "/nowhere"}) == tmp_path / "dc"
    assert config_dir({"HOME": str(tmp_path)}) == tmp_path / ".docker"


def test_docker_config_reads_auths_in_every_key_spelling(tmp_path: Path) -> None:
    def entry(user: str, pw: str) -> dict[str, str]:
        return {"auth": base64.b64encode(f"{user}:{pw}".encode()).decode()}

    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "https://reg.example.com/v1/": entry("a", "pa"), "http://localhost:5000": entry("b", "pb"),
        "https://index.docker.io/v1/": entry("c", "pc:with:colons"), "plain:1": {"username": "d", "password": "pd"}}}))
    cfg = DockerConfig(tmp_path)
    assert cfg.get("reg.example.com") == Credentials("a", "pa")
    assert cfg.get("localhost:5000") == Credentials("b", "pb")
    assert cfg.get("docker.io") == Credentials("c", "pc:with:colons")
    assert cfg.get("plain:1") == Credentials("d", "pd")
    assert cfg.get("other.example.com") is None
    assert DockerConfig(tmp_path / "missing").get("reg.example.com") is None


def test_docker_config_store_keeps_other_keys_and_is_0600(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"https://reg:5000/v1/": {"auth": "eDp5"}},
                                                      "proxies": {"default": {"httpProxy": "x"}}}))
    os.chmod(tmp_path / "config.json", 0o644)
    cfg = DockerConfig(tmp_path)
    cfg.store("reg:5000", Credentials("u", "p"))
    obj = json.loads((tmp_path / "config.json").read_text())
    assert obj["proxies"] == {"default": {"httpProxy": "x"}}
    assert obj["auths"] == {"reg:5000": {"auth": base64.b64encode(b"u:p").decode()}}  # old spelling replaced
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o600
    assert cfg.erase("reg:5000") is True and cfg.get("reg:5000") is None and cfg.erase("reg:5000") is False


def test_docker_config_that_is_not_json_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(AuthError, match="config.json is not valid JSON"):
        DockerConfig(tmp_path).get("reg")


# ---- retry timing, scheme choice, small parsers --------------------------------------------------------
def test_backoff_is_capped_exponential_with_jitter_and_retry_after_wins() -> None:
    policy = RetryPolicy(backoff=0.5, cap=4.0, max_retry_after=30)
    for attempt in range(8):
        ceiling = min(4.0, 0.5 * 2 ** attempt)
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1
    assert policy.delay(0, 7.0) == 7.0 and policy.delay(0, 500.0) == 30


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after({"Retry-After": "3"}) == 3.0
    later = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 < (retry_after({"Retry-After": later}) or 0) <= 20
    assert retry_after({"Retry-After": "soon"}) is None and retry_after({}) is None


def test_plain_http_only_for_loopback_by_default() -> None:
    rs = RemoteSettings()
    assert scheme_for("localhost:5000", rs) == "http"
    assert scheme_for("127.0.0.1:5000", rs) == "http"
    assert scheme_for("[::1]:5000", rs) == "http"
    assert scheme_for("registry.example.com", rs) == "https"
    assert scheme_for("10.0.0.1:5000", rs) == "https"
    assert scheme_for("registry.example.com", RemoteSettings(plain_http=True)) == "http"
    assert scheme_for("localhost:5000", RemoteSettings(ca_file="/x.pem")) == "https"
    with pytest.raises(InvalidReference):
        scheme_for("host:notaport", rs)


def test_urls_in_messages_lose_query_and_userinfo() -> None:
    assert shown_url("https://u:p@s3.example.com:8443/b/k?X-Amz-Signature=secret#f") == "https://s3.example.com:8443/b/k"


def test_link_and_range_parsing() -> None:
    assert next_link(['</v2/x/tags/list?last=b&n=2>; rel="next"']) == "/v2/x/tags/list?last=b&n=2"
    assert next_link(['<https://h/a>; rel="prev", <https://h/b>; rel=next']) == "https://h/b"
    assert next_link(['<https://h/a>; rel="prev"']) is None
    assert range_end("0-1023") == 1024 and range_end("bytes=0-9") == 10 and range_end("junk") is None
