"""How to reach registries: one :class:`RemoteSettings` value, resolved at the edge and passed down, and
the rule that picks HTTP or HTTPS for a registry host."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...errors import InvalidReference
from .credentials import Credentials, DockerConfig, config_dir

MiB = 1 << 20
# Measured against registry 2.8.2 (1 GiB): 16-64 MiB chunks and a monolithic PUT all ran at the
# registry's own limit; 8 MiB chunks lost 25 %. See upload.py.
DEFAULT_CHUNK = 16 * MiB


def _pause(seconds: float) -> None:
    """Sleep between retries, ending early when the transfer is cancelled (the HTTP layer knows)."""
    from .http import pause

    pause(seconds)


@dataclass(frozen=True)
class Timeout:
    """Seconds for the TCP connect plus TLS handshake, and for every later socket read or write.

    A per-socket-read timeout alone lets a server drip one byte just inside it for ever, so every
    answer must also keep a minimum rate: ``t`` seconds after a request was sent, at least
    ``min_rate * (t - read)`` bytes of its answer have arrived. That is a deadline per request derived
    from its size (``read + size / min_rate``) that needs no size up front and gives a fast start credit
    for a later pause. ``total`` bounds a whole operation (every request of one registry client).
    """

    connect: float = 10.0
    read: float = 60.0
    min_rate: float = 4096.0  # bytes per second, averaged over the answer
    total: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; ``Retry-After`` wins when the registry sends it.

    ``attempts`` counts tries, so 1 means "never retry". ``sleep`` is replaceable for tests.
    """

    attempts: int = 5
    backoff: float = 0.25
    cap: float = 8.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=_pause, compare=False, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), self.max_retry_after))
        ceiling = float(min(self.cap, self.backoff * 2.0 ** attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never 0, never over the cap


@dataclass(frozen=True)
class RemoteSettings:
    """How to reach registries; resolved once at the edge (CLI flags, environment) and passed down.

    ``plain_http`` forces HTTP; otherwise HTTPS with the system CAs (plus ``ca_file``), except for loopback
    hosts (localhost, 127.0.0.0/8, ::1), which use plain HTTP unless ``ca_file`` or ``insecure`` asks for
    TLS. ``insecure`` keeps TLS but skips certificate verification. ``credentials`` wins over the docker
    config in ``docker_config`` (a directory; default ``$DOCKER_CONFIG`` or ``~/.docker``). ``state_dir``
    keeps what outlives one run: where blobs were seen (mount hints) and open upload sessions; None keeps
    them in memory for the process only.

    Memory: an upload keeps the request being sent (up to ``chunk_size``) so it can be re-sent from the
    offset the registry reports; at most ``upload_buffers`` such buffers exist per registry (reused), so a
    push holds at most ``upload_buffers * chunk_size`` (32 MiB) whatever the concurrency. Blobs of up to
    1 MiB need no pooled buffer. A blob of ``ranged_threshold`` bytes or more that is downloaded into a
    file may use up to ``download_streams`` connections (``Range`` requests for in-order pieces of four
    ``range_piece``, then halves of what is left, never less than ``range_piece``), when one connection
    cannot keep up; each holds one 1 MiB read buffer.
    """

    plain_http: bool = False
    insecure: bool = False
    ca_file: str | None = None
    timeout: Timeout = Timeout()
    retry: RetryPolicy = RetryPolicy()
    docker_config: Path | None = None
    credentials: Credentials | None = field(default=None, repr=False)
    chunk_size: int = DEFAULT_CHUNK
    upload_buffers: int = 2
    download_streams: int = 4
    ranged_threshold: int = 64 * MiB
    range_piece: int = 4 * MiB
    state_dir: Path | None = None
    # Called with one line per HTTP exchange (method, URL without query, status, time), for ``-v``.
    trace: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> RemoteSettings:
        """Settings with the docker config directory taken from ``$DOCKER_CONFIG`` / ``$HOME``."""
        return cls(docker_config=config_dir(env), **overrides)

    def docker(self) -> DockerConfig:
        return DockerConfig(self.docker_config if self.docker_config is not None else config_dir())


def split_host(registry: str) -> tuple[str, int | None]:
    """``"reg:5000"`` → ``("reg", 5000)``; ``"[::1]:5000"`` → ``("::1", 5000)``."""
    parts = urlsplit(f"//{registry}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidReference(f"invalid registry {registry!r}: bad port") from None
    if not parts.hostname:
        raise InvalidReference(f"invalid registry {registry!r}")
    return parts.hostname, port


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def scheme_for(registry: str, settings: RemoteSettings) -> str:
    host, _port = split_host(registry)
    if settings.plain_http:
        return "http"
    if is_loopback(host) and not settings.ca_file and not settings.insecure:
        return "http"
    return "https"
