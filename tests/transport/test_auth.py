"""Authentication against real registries: htpasswd (Basic) and token (Bearer), login/logout, credentials."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelcrate import transfer
from modelcrate.content.remote import Credentials, DockerConfig, RemoteSettings
from modelcrate.errors import AuthError, ModelcrateError
from modelcrate.settings import Settings
from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess
from tests.transport.conftest import model_files, write_model


def store_login(docker_config: Path, reg: RegistryProcess, password: str | None = None) -> None:
    DockerConfig(docker_config).store(reg.host, Credentials(reg.username, password or reg.password))


@pytest.fixture
def basic_proxy(htpasswd_registry: RegistryProcess) -> Iterator[FaultProxy]:
    with FaultProxy(htpasswd_registry.port) as proxy:
        yield proxy


def test_oras_py_4_basic_auth_sends_every_request_twice__modelcrate_sends_the_body_once(
        htpasswd_registry: RegistryProcess, basic_proxy: FaultProxy, docker_config: Path, tmp_path: Path,
        settings: Settings, remote: RemoteSettings) -> None:
    """oras-py sent a 50 MiB blob as 100 MiB under Basic auth; Basic must be sent pre-emptively."""
    reg = htpasswd_registry
    DockerConfig(docker_config).store(basic_proxy.host, Credentials(reg.username, reg.password))
    size = 5 * 1024 * 1024
    root = write_model(tmp_path / "m", {"w.safetensors": os.urandom(size)})
    result = transfer.push_dir(root, f"{basic_proxy.host}/auth/once:1", config=settings, remote=remote)
    uploads = [r for r in basic_proxy.stats.requests if "/blobs/uploads/" in r.target and r.method in ("PUT", "PATCH")]
    assert sum(r.body_bytes for r in uploads) == result.bytes_copied - _manifest(basic_proxy)
    assert basic_proxy.stats.c2s_body_bytes < size + 20_000  # weights + config + manifest, each once
    with_body = [(r.line, r.body_bytes) for r in basic_proxy.stats.requests if r.body_bytes]
    assert len(with_body) == len(set(with_body)) == 4  # weights, config, manifest, tag; none repeated


def _manifest(proxy: FaultProxy) -> int:
    """Size of the manifest (PUT by digest, then by tag: the same bytes twice)."""
    return max(r.body_bytes for r in proxy.stats.requests if "/manifests/" in r.target and r.method == "PUT")


def test_oras_py_5_basic_only_registry__works_at_once_and_fails_fast(
        htpasswd_registry: RegistryProcess, docker_config: Path, tmp_path: Path, settings: Settings,
        fresh_settings: Settings, remote: RemoteSettings) -> None:
    """oras-py's default token backend retried a Basic-only registry for ~2 minutes before failing."""
    root = write_model(tmp_path / "m", {"w.bin": os.urandom(20_000)})
    ref = f"{htpasswd_registry.host}/auth/basic:1"
    store_login(docker_config, htpasswd_registry)
    started = time.monotonic()
    transfer.push_dir(root, ref, config=settings, remote=remote)
    transfer.pull(ref, config=fresh_settings, remote=remote)
    assert time.monotonic() - started < 10
    store_login(docker_config, htpasswd_registry, password="wrong")
    started = time.monotonic()
    with pytest.raises(ModelcrateError, match="refused the credentials of user 'modelcrate'"):
        transfer.pull(ref, config=Settings(tmp_path / "h3"), remote=remote)
    assert time.monotonic() - started < 3


def test_wrong_credentials_give_one_line_and_the_auth_exit_code_without_the_password(
        htpasswd_registry: RegistryProcess, docker_config: Path, run_cli: Callable[..., object],
        tmp_path: Path) -> None:
    secret = "Wr0ng-Pa55word-xyz"
    store_login(docker_config, htpasswd_registry, password=secret)
    root = write_model(tmp_path / "m", {"w.bin": b"w"})
    for args in (["push", str(root), f"{htpasswd_registry.host}/auth/cli:1"],
                 ["--debug", "pull", f"{htpasswd_registry.host}/auth/cli:1"],
                 ["tags", f"{htpasswd_registry.host}/auth/cli"]):
        done = run_cli(*args, env={"DOCKER_CONFIG": str(docker_config)})
        assert done.returncode == AuthError.exit_code == 4  # type: ignore[attr-defined]
        output = done.stdout + done.stderr  # type: ignore[attr-defined]
        assert secret not in output
        assert base64.b64encode(f"modelcrate:{secret}".encode()).decode() not in output
        if "--debug" not in args:
            lines = done.stderr.strip().splitlines()  # type: ignore[attr-defined]
            assert len(lines) == 1 and "refused the credentials of user 'modelcrate'" in lines[0], lines


def test_no_credentials_says_how_to_log_in(htpasswd_registry: RegistryProcess, remote: RemoteSettings) -> None:
    with pytest.raises(AuthError, match="requires a login") as err:
        transfer.list_tags(f"{htpasswd_registry.host}/auth/none", remote=remote)
    assert f"modelcrate login {htpasswd_registry.host}" in err.value.diagnostics()


def test_oras_py_6_login_with_a_wrong_password_fails_and_stores_nothing__docker_config_honoured(
        htpasswd_registry: RegistryProcess, docker_config: Path, run_cli: Callable[..., object],
        tmp_path: Path) -> None:
    """oras-py printed "Login Succeeded" for a wrong password and wrote to ~/.docker whatever DOCKER_CONFIG
    said."""
    home = tmp_path / "home-dir"
    env = {"DOCKER_CONFIG": str(docker_config), "HOME": str(home)}
    host = htpasswd_registry.host
    done = run_cli("login", host, "-u", htpasswd_registry.username, "--password-stdin", input="wrong\n", env=env)
    assert done.returncode == 4 and "Login Succeeded" not in done.stdout + done.stderr  # type: ignore[attr-defined]
    assert not (docker_config / "config.json").exists() and not home.exists()
    done = run_cli("login", host, "-u", htpasswd_registry.username, "--password-stdin",
                   input=htpasswd_registry.password + "\n", env=env)
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert "Login Succeeded" in done.stderr and htpasswd_registry.password not in done.stderr  # type: ignore[attr-defined]
    path = docker_config / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not home.exists()
    expected = base64.b64encode(f"{htpasswd_registry.username}:{htpasswd_registry.password}".encode()).decode()
    assert json.loads(path.read_text())["auths"][host]["auth"] == expected
    root = write_model(tmp_path / "m", {"w.bin": b"w"})
    assert run_cli("push", str(root), f"{host}/auth/login:1", env=env).returncode == 0  # type: ignore[attr-defined]
    done = run_cli("logout", host, env=env)
    assert done.returncode == 0 and host not in json.loads(path.read_text()).get("auths", {})  # type: ignore[attr-defined]
    assert run_cli("tags", f"{host}/auth/login", env=env).returncode == 4  # type: ignore[attr-defined]


FAKE_HELPER = """#!{python}
import json, os, sys
db = os.environ["FAKE_HELPER_DB"]
data = json.load(open(db)) if os.path.exists(db) else {{}}
action = sys.argv[1]
if action == "store":
    item = json.load(sys.stdin)
    data[item["ServerURL"]] = [item["Username"], item["Secret"]]
elif action == "get":
    server = sys.stdin.read().strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": server, "Username": data[server][0], "Secret": data[server][1]}}))
elif action == "erase":
    server = sys.stdin.read().strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    del data[server]
json.dump(data, open(db, "w"))
"""


def test_credential_helpers_store_get_and_erase(htpasswd_registry: RegistryProcess, docker_config: Path,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                settings: Settings) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-fake"
    helper.write_text(FAKE_HELPER.format(python=sys.executable))
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HELPER_DB", str(tmp_path / "db.json"))
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "fake"}))
    remote = RemoteSettings(docker_config=docker_config)
    host = htpasswd_registry.host
    with pytest.raises(AuthError):
        transfer.login(host, htpasswd_registry.username, "wrong", remote=remote)
    assert not (tmp_path / "db.json").exists()
    result = transfer.login(host, htpasswd_registry.username, htpasswd_registry.password, remote=remote)
    assert result.stored_in == "docker-credential-fake" and result.verified
    assert json.loads((docker_config / "config.json").read_text()) == {"credsStore": "fake"}  # no secret in the file
    assert json.loads((tmp_path / "db.json").read_text()) == {host: [htpasswd_registry.username,
                                                                     htpasswd_registry.password]}
    root = write_model(tmp_path / "m", {"w.bin": b"w"})
    transfer.push_dir(root, f"{host}/auth/helper:1", config=settings, remote=remote)
    # credHelpers wins over credsStore for its registry
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "missing", "credHelpers": {host: "fake"}}))
    assert transfer.list_tags(f"{host}/auth/helper", remote=remote) == ["1"]
    assert transfer.logout(host, remote=remote) is True
    assert transfer.logout(host, remote=remote) is False
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "not-installed"}))
    with pytest.raises(AuthError, match="docker-credential-not-installed, which is not installed"):
        transfer.list_tags(f"{host}/auth/helper", remote=remote)


# ---- Bearer tokens --------------------------------------------------------------------------------------
def test_bearer_tokens_are_cached_per_scope(token_registry: RegistryProcess, docker_config: Path, tmp_path: Path,
                                            settings: Settings, fresh_settings: Settings,
                                            remote: RemoteSettings) -> None:
    ts = token_registry.token_server
    assert ts is not None
    store_login(docker_config, token_registry)
    files = {f"w{i}.bin": os.urandom(30_000) for i in range(4)}
    root = write_model(tmp_path / "m", files)
    ref = f"{token_registry.host}/tok/cache:1"
    ts.reset_stats()
    result = transfer.push_dir(root, ref, config=settings, remote=remote)
    assert result.copied == 6
    # One token for the repository's pull+push scope serves ~25 requests from 4 threads; at most one
    # more may be fetched by threads that asked at the same moment.
    assert 1 <= ts.request_count <= 2, ts.requests
    assert set(ts.scopes_requested) == {"repository:tok/cache:pull,push"}
    ts.reset_stats()
    transfer.pull(ref, config=fresh_settings, remote=remote)
    assert ts.request_count == 1 and ts.scopes_requested == ["repository:tok/cache:pull"]
    out = tmp_path / "out"
    ts.reset_stats()
    transfer.pull_to_dir(ref, out, remote=remote)
    assert model_files(out) == files and ts.request_count == 1


def test_bearer_mount_asks_for_both_repositories_in_one_token(
        token_registry: RegistryProcess, docker_config: Path, tmp_path: Path, settings: Settings,
        remote: RemoteSettings) -> None:
    ts = token_registry.token_server
    assert ts is not None
    store_login(docker_config, token_registry)
    root = write_model(tmp_path / "m", {"w.bin": os.urandom(10_000)})
    transfer.push_dir(root, f"{token_registry.host}/tok/src:1", config=settings, remote=remote)
    ts.reset_stats()
    result = transfer.copy_ref(f"{token_registry.host}/tok/src:1", f"{token_registry.host}/tok/dst:1",
                               config=settings, remote=remote)
    assert result.mounted == 2
    assert any(sorted(r.scopes) == ["repository:tok/dst:pull,push", "repository:tok/src:pull"] for r in ts.requests)


def test_bearer_wrong_password_and_missing_permission(
        registry_factory: Callable[..., RegistryProcess], docker_config: Path, tmp_path: Path,
        settings: Settings, remote: RemoteSettings) -> None:
    reg = registry_factory(auth="token", token_options={"allowed_actions": {"pull"}})
    ts = reg.token_server
    assert ts is not None
    root = write_model(tmp_path / "m", {"w.bin": b"w"})
    store_login(docker_config, reg, password="wrong")
    with pytest.raises(ModelcrateError, match="refused the credentials"):
        transfer.push_dir(root, f"{reg.host}/tok/ro:1", config=settings, remote=remote)
    assert ts.request_count == 1  # no loop
    store_login(docker_config, reg)
    with pytest.raises(ModelcrateError, match="denied access: pull\\+push on tok/ro"):
        transfer.push_dir(root, f"{reg.host}/tok/ro:1", config=settings, remote=remote)


def test_login_against_a_token_registry(token_registry: RegistryProcess, docker_config: Path) -> None:
    remote = RemoteSettings(docker_config=docker_config)
    with pytest.raises(AuthError):
        transfer.login(token_registry.host, token_registry.username, "nope", remote=remote)
    assert not (docker_config / "config.json").exists()
    result = transfer.login(token_registry.host, token_registry.username, token_registry.password, remote=remote)
    assert result.verified and result.stored_in == str(docker_config / "config.json")


def test_login_to_an_open_registry_says_it_was_not_checked(registry: RegistryProcess, docker_config: Path) -> None:
    result = transfer.login(registry.host, "anyone", "anything", remote=RemoteSettings(docker_config=docker_config))
    assert result.verified is False
