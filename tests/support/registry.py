"""Run a real registry:2 (``docker-registry`` from distribution 2.8.2) for tests.

Plain, htpasswd (Basic) and token (Bearer) variants, each in its own temp dir,
bound to 127.0.0.1 on a free port, stopped by its own PID only.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Literal, Self

import yaml

from tests.support.token_server import TokenServer

DEFAULT_BINARY = "/usr/bin/docker-registry"
AuthMode = Literal["none", "htpasswd", "token"]


def registry_binary() -> str | None:
    """Path of the registry binary, or None when it isn't installed."""
    found = shutil.which("docker-registry")
    if found:
        return found
    return DEFAULT_BINARY if os.access(DEFAULT_BINARY, os.X_OK) else None


def require_registry() -> str:
    """The registry binary, else skip the test (locally) or fail it (CI=true)."""
    import pytest

    binary = registry_binary()
    if binary is None:
        msg = "docker-registry binary not found (apt-get install docker-registry)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return binary


def find_free_port() -> int:
    """A port that was free a moment ago (the caller retries if someone races for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bcrypt_htpasswd_line(username: str, password: str) -> str:
    """``user:$2b$...`` — registry only accepts bcrypt entries."""
    try:
        import bcrypt
    except ImportError:
        bcrypt = None  # type: ignore[assignment]
    if bcrypt is not None:
        # Cost 5 keeps the registry's per-request bcrypt check cheap on a loaded CI box.
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        return f"{username}:{hashed}"
    tool = shutil.which("htpasswd")
    if tool is None:
        raise RuntimeError("need the 'bcrypt' Python package or apache2-utils' htpasswd")
    out = subprocess.run([tool, "-Bbn", "-C", "5", username, password], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _merge(base: dict, extra: dict) -> dict:
    """Deep-merge ``extra`` into ``base`` (dicts merge, everything else replaces)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


class RegistryProcess:
    """A ``docker-registry serve`` child process.

    auth="htpasswd": Basic auth with ``.username``/``.password``.
    auth="token": Bearer auth; ``.token_server`` (a TokenServer) is started and stopped with it.
    extra_config: merged into the generated config (e.g. {"http": {"headers": {...}}}).
    """

    def __init__(
        self,
        *,
        auth: AuthMode = "none",
        username: str = "modelcrate",
        password: str | None = None,
        extra_config: dict[str, Any] | None = None,
        token_options: dict[str, Any] | None = None,
        binary: str | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        self.auth = auth
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(12)
        self.extra_config = extra_config or {}
        self.token_options = token_options or {}
        self.binary = binary or registry_binary()
        self.startup_timeout = startup_timeout
        self.token_server: TokenServer | None = None
        self.port = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- addresses and paths ------------------------------------------------------
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def workdir(self) -> Path:
        assert self._tmp is not None, "registry not started"
        return Path(self._tmp.name)

    @property
    def storage_dir(self) -> Path:
        """Filesystem driver root; blobs: docker/registry/v2/blobs/sha256/<2hex>/<hex>/data."""
        return self.workdir / "storage"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config.yml"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def blob_path(self, digest: str) -> Path:
        """Where the filesystem driver keeps the bytes of ``sha256:<hex>``."""
        algo, hexpart = digest.split(":", 1)
        return self.storage_dir / "docker/registry/v2/blobs" / algo / hexpart[:2] / hexpart / "data"

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- config -------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "version": "0.1",
            "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": True},
                # No background purge goroutine touching files tests may be inspecting.
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        if self.auth == "htpasswd":
            htpasswd = self.workdir / "htpasswd"
            htpasswd.write_text(bcrypt_htpasswd_line(self.username, self.password) + "\n")
            config["auth"] = {"htpasswd": {"realm": "modelcrate-test", "path": str(htpasswd)}}
        elif self.auth == "token":
            assert self.token_server is not None
            bundle = self.token_server.write_cert_bundle(self.workdir / "token-ca.pem")
            config["auth"] = {
                "token": {
                    "realm": self.token_server.realm,
                    "service": self.token_server.service,
                    "issuer": self.token_server.issuer,
                    "rootcertbundle": str(bundle),
                }
            }
        elif self.auth != "none":
            raise ValueError(f"unknown auth mode {self.auth!r}")
        return _merge(config, self.extra_config)

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> Self:
        if self.binary is None:
            raise RuntimeError("docker-registry binary not found")
        self._tmp = tempfile.TemporaryDirectory(prefix="modelcrate-registry-")
        self.storage_dir.mkdir()
        try:
            if self.auth == "token":
                self.token_server = TokenServer(self.username, self.password, **self.token_options).start()
            # The port may be taken between find_free_port() and the bind: retry a few times.
            for _attempt in range(3):
                self.port = find_free_port()
                self.config_path.write_text(yaml.safe_dump(self._config(), sort_keys=False))
                if self._spawn_and_wait():
                    return self
            raise RuntimeError(f"registry did not start; log:\n{self.read_log()[-4000:]}")
        except BaseException:
            self.stop()
            raise

    def _spawn_and_wait(self) -> bool:
        """Start the child; True once /v2/ answers, False if it exited (e.g. port in use)."""
        # REGISTRY_* variables override the config file; don't inherit any.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in _kill)
        assert self.binary is not None
        self._proc = subprocess.Popen(
            [self.binary, "serve", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._kill()
                return False
            if self._probe() in (200, 401):
                return True
            time.sleep(0.05)
        self._kill()
        raise TimeoutError(f"registry not ready after {self.startup_timeout}s; log:\n{self.read_log()[-4000:]}")

    def _probe(self) -> int | None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/v2/")
            resp = conn.getresponse()
            resp.read()
            resp.close()
            return resp.status
        except OSError:
            return None
        finally:
            conn.close()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()  # SIGTERM to our own child only
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        self._kill()
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
