"""Registry credentials in the docker ``config.json``, shared with docker, podman, skopeo, oras and crane.

Where: ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json`` (resolved once, at the edge).
What is honoured, in docker's order: ``credHelpers[host]`` (a per-registry helper), then ``credsStore``
(the default helper), then ``auths[host].auth`` (base64 ``user:password`` in the file itself). A helper is
the program ``docker-credential-<name>``, run with ``get``/``store``/``erase`` and the server on stdin.

Writes keep every other key of the file, go through a temp file and a rename, and leave the file with
mode 0600 (it holds secrets). Secrets are never printed, logged or put into an exception.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import AuthError

_HELPER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HELPER_TIMEOUT = 60.0
# docker keeps Docker Hub's credentials under this legacy key.
_DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token used as password). ``repr`` never shows the secret."""

    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG``, else ``~/.docker``."""
    env = os.environ if env is None else env
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".docker"


def _key_host(key: str) -> str:
    """``https://host:5000/v1/`` → ``host:5000``; keys may be written with a scheme and a path."""
    text = key.strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    return text.split("/", 1)[0].lower()


def _server_key(registry: str) -> str:
    return _DOCKER_HUB_KEY if registry.lower() in _DOCKER_HUB_HOSTS else registry


class DockerConfig:
    """The credential part of one docker config directory."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DockerConfig:
        return cls(config_dir(env))

    @property
    def path(self) -> Path:
        return self.directory / "config.json"

    # ---- reading ----------------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise AuthError(f"cannot read {self.path}: {exc.strerror}") from None
        if not raw.strip():
            return {}
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise AuthError(f"{self.path} is not valid JSON", hint="fix or remove the file") from None
        if not isinstance(obj, dict):
            raise AuthError(f"{self.path} is not a JSON object", hint="fix or remove the file")
        return obj

    def helper_for(self, registry: str) -> str | None:
        """The credential helper that owns ``registry``, if any (``credHelpers`` wins over ``credsStore``)."""
        obj = self._load()
        helpers = obj.get("credHelpers")
        if isinstance(helpers, dict):
            for key, name in helpers.items():
                if isinstance(name, str) and name and _key_host(key) == registry.lower():
                    return name
        store = obj.get("credsStore")
        return store if isinstance(store, str) and store else None

    def get(self, registry: str) -> Credentials | None:
        """Credentials for ``registry`` (``host[:port]``), or None when there are none."""
        helper = self.helper_for(registry)
        if helper is not None:
            found = _run_helper(helper, "get", _server_key(registry).encode())
            if found is not None:
                try:
                    obj = json.loads(found)
                    user, secret = obj.get("Username"), obj.get("Secret")
                except (ValueError, AttributeError):
                    raise AuthError(f"credential helper docker-credential-{helper} printed something that is "
                                    "not JSON") from None
                if isinstance(user, str) and isinstance(secret, str) and secret:
                    return Credentials(user, secret)
                return None
            # docker falls back to the file when the default store has nothing for this host
        return self._from_auths(registry)

    def _from_auths(self, registry: str) -> Credentials | None:
        auths = self._load().get("auths")
        if not isinstance(auths, dict):
            return None
        wanted = _key_host(_server_key(registry))
        for key, entry in auths.items():
            if _key_host(key) != wanted or not isinstance(entry, dict):
                continue
            encoded = entry.get("auth")
            if isinstance(encoded, str) and encoded:
                try:
                    user, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    raise AuthError(f"the entry for {registry} in {self.path} is not valid base64 user:password",
                                    hint=f"run `modelcrate login {registry}` again") from None
                if sep:
                    return Credentials(user, password)
            name, secret = entry.get("username"), entry.get("password")
            if isinstance(name, str) and isinstance(secret, str) and secret:
                return Credentials(name, secret)
        return None

    # ---- writing ----------------------------------------------------------------------------------
    def store(self, registry: str, creds: Credentials) -> str:
        """Save ``creds``; return where they went ("config.json" path or the helper's name)."""
        helper = self.helper_for(registry)
        if helper is not None:
            payload = json.dumps({"ServerURL": _server_key(registry), "Username": creds.username,
                                  "Secret": creds.password}).encode()
            _run_helper(helper, "store", payload, must_succeed=True)
            return f"docker-credential-{helper}"
        obj = self._load()
        auths = obj.get("auths") if isinstance(obj.get("auths"), dict) else {}
        assert isinstance(auths, dict)
        wanted = _key_host(_server_key(registry))
        for key in [k for k in auths if _key_host(k) == wanted]:
            del auths[key]
        auths[_server_key(registry)] = {
            "auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode("ascii")}
        obj["auths"] = auths
        self._write(obj)
        return str(self.path)

    def erase(self, registry: str) -> bool:
        """Forget the credentials for ``registry``; True if there were any."""
        helper = self.helper_for(registry)
        if helper is not None:
            return _run_helper(helper, "erase", _server_key(registry).encode()) is not None
        obj = self._load()
        auths = obj.get("auths")
        if not isinstance(auths, dict):
            return False
        wanted = _key_host(_server_key(registry))
        keys = [k for k in auths if _key_host(k) == wanted]
        if not keys:
            return False
        for key in keys:
            del auths[key]
        self._write(obj)
        return True

    def _write(self, obj: dict[str, Any]) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".config.json.", suffix=".tmp", dir=self.directory)  # mode 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(obj, f, indent="\t")
                    f.write("\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise AuthError(f"cannot write {self.path}: {exc.strerror}",
                            hint="set DOCKER_CONFIG to a writable directory") from None


def _run_helper(name: str, action: str, payload: bytes, must_succeed: bool = False) -> bytes | None:
    """Run ``docker-credential-<name> <action>``; None when it has nothing for the server."""
    if not _HELPER_NAME.match(name):
        raise AuthError(f"invalid credential helper name {name[:40]!r} in the docker config")
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run([program, action], input=payload, capture_output=True, timeout=_HELPER_TIMEOUT,
                              check=False)
    except FileNotFoundError:
        raise AuthError(f"the docker config names the credential helper {program}, which is not installed",
                        hint=f"install {program} or remove it from the docker config") from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"{program} {action} did not finish within {_HELPER_TIMEOUT:g}s") from None
    if done.returncode == 0:
        return done.stdout
    # The helper protocol reports "nothing stored" as a failure with this text on stdout.
    if not must_succeed and b"credentials not found" in (done.stdout + done.stderr).lower():
        return None
    # Helper output may echo what it was given: never show it. The exit code is enough to act on.
    raise AuthError(f"{program} {action} failed with exit code {done.returncode}")
