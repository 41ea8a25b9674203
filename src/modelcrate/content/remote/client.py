"""RegistryClient: everything the repositories of one registry share — the base URL and connections,
the authentication state, the referrers-API capability, upload buffers, byte counts — plus the one
request path (auth, redirects, scheme pinning) and the one mapping from an error answer to our errors.

Registry 2.8.2 behind a TLS terminator writes ``http://`` upload Locations for its own host (it saw plain
HTTP). Such a URL keeps the scheme in use: following it would send the blob and the credentials in clear.
Credentials never follow a redirect to another host (blob storage elsewhere gets no ``Authorization``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from ...errors import AuthError, RegistryError, RegistryNotFound
from ...format.reference import registry_endpoint
from . import listing
from .auth import Authenticator, Reply, Request
from .http import (REDIRECT_STATUSES, HttpClient, Response, error_detail, redirect_target, redirected_method,
                   shown_url, tls_context)
from .locations import BlobLocations, UploadSessions
from .referrers_api import ReferrersCapability
from .settings import RemoteSettings, scheme_for, split_host
from .upload import BufferPool

if TYPE_CHECKING:
    from .repository import RegistryTarget
    from .upload import Uploader

_MAX_REDIRECTS = 5
_MAX_IDLE = 32
_ERROR_BODY = 64 * 1024


@dataclass
class TransferStats:
    """Body bytes that actually crossed the wire (re-sent bytes count twice)."""

    uploaded: int = 0
    downloaded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, uploaded: int = 0, downloaded: int = 0) -> None:
        with self._lock:
            self.uploaded += uploaded
            self.downloaded += downloaded


class RegistryClient:
    """Everything shared by the repositories of one registry: connections, auth state, capabilities."""

    def __init__(self, registry: str, settings: RemoteSettings | None = None) -> None:
        self.settings = settings or RemoteSettings.from_env()
        self.registry = registry.lower()
        host, port = split_host(registry_endpoint(self.registry))
        self.scheme = scheme_for(self.registry, self.settings)
        self._context = (tls_context(ca_file=self.settings.ca_file, insecure=self.settings.insecure)
                         if self.scheme == "https" else None)
        total = self.settings.timeout.total
        self.deadline = time.monotonic() + total if total else None  # --max-time, from the operation's start
        # Idle keep-alive connections kept per registry: as many as small-blob transfers run at once, so
        # a 500-file push opens each connection once, not once per blob.
        self.http = HttpClient(self.scheme, host, port, timeout=self.settings.timeout, retry=self.settings.retry,
                               context=self._context, deadline=self.deadline, max_idle=_MAX_IDLE)
        explicit = self.settings.credentials
        self.auth = Authenticator(self.registry, explicit if explicit is not None
                                  else (lambda: self.settings.docker().get(self.registry)),
                                  registry_scheme=self.scheme)
        self.stats = TransferStats()
        self.buffers = BufferPool(max(1, self.settings.upload_buffers), max(1, self.settings.chunk_size))
        # Registry software has the referrers API or not: probed once per registry, then fixed.
        self.referrers_capability = ReferrersCapability()
        # Where blobs were seen on this registry (a hint for mounts) and the uploaders whose open sessions
        # are cancelled at close.
        self.locations = BlobLocations.in_dir(self.registry, self.settings.state_dir)
        self.upload_sessions = UploadSessions(self.registry, self.settings.state_dir)
        self.sessions: weakref.WeakSet[Uploader] = weakref.WeakSet()
        self._others: dict[tuple[str, str, int | None], HttpClient] = {}
        self._verifying_context: Any = None
        self._v2_status: int | None = None  # GET /v2/, asked once when an answer looks foreign
        self._probe_lock = threading.Lock()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RegistryClient({self.registry!r}, scheme={self.scheme!r})"

    def url(self, path: str) -> str:
        return self.http.base + path

    def close(self) -> None:
        for uploader in list(self.sessions):
            uploader.abandon()
        self.locations.flush()
        self.http.close()
        with self._lock:
            others, self._others = list(self._others.values()), {}
        for c in others:
            c.close()

    def repository(self, name: str, *, push: bool = False) -> RegistryTarget:
        from .repository import RegistryTarget  # repository.py builds on this module

        return RegistryTarget(self, name, push=push)

    # ---- requests -----------------------------------------------------------------------------------
    def _client_for(self, url: str) -> HttpClient:
        if self.http.serves(url):
            return self.http
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryError(f"{self.registry} pointed to an unusable URL {shown_url(url)}")
        key = (parts.scheme, parts.hostname.lower(), parts.port)
        with self._lock:
            client = self._others.get(key)
            if client is None:
                ctx = self._other_origin_context() if parts.scheme == "https" else None
                client = HttpClient(parts.scheme, parts.hostname, parts.port, timeout=self.settings.timeout,
                                    retry=self.settings.retry, context=ctx, deadline=self.deadline)
                self._others[key] = client
            return client

    def _other_origin_context(self) -> Any:
        """TLS for another origin (token realm, storage redirect): ``--insecure`` names the registry host
        alone, so another origin keeps full certificate verification (the CA file still adds trust)."""
        if self._context is not None and not self.settings.insecure:
            return self._context
        if self._verifying_context is None:
            self._verifying_context = tls_context(ca_file=self.settings.ca_file)
        return self._verifying_context

    def request(self, method: str, url: str, *, scopes: Sequence[str], headers: Mapping[str, str] | None = None,
                body: Any = None, length: int | None = None, idempotent: bool | None = None,
                follow: bool = False) -> Response:
        """Send ``method url`` with authentication (see :mod:`.auth`); retried when ``idempotent``.

        ``body`` is bytes or a body writer (then ``length`` is required and nothing is retried). With
        ``follow``, redirects are followed; credentials are never sent to another host."""
        url = self._same_scheme(url)
        for _hop in range(_MAX_REDIRECTS + 1):
            resp = self._authorized(method, url, scopes, headers or {}, body, length, idempotent)
            if not (follow and resp.status in REDIRECT_STATUSES and resp.header("Location")):
                return resp
            location = resp.header("Location") or ""
            resp.drain()
            resp.close()
            # Pre-signed storage URLs carry their credentials in the query: the next hop gets no
            # Authorization (see _authorized), and a dropped download asks the registry again.
            url = redirect_target(url, self._same_scheme(urljoin(url, location)))
            method = redirected_method(method, resp.status)
        raise RegistryError(f"{method} {shown_url(url)}: more than {_MAX_REDIRECTS} redirects")

    def _same_scheme(self, url: str) -> str:
        """A URL on this registry's host and port keeps the scheme we use (see the module docstring)."""
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.scheme != self.scheme and parts.hostname \
                and parts.hostname.lower() == self.http.host and parts.port in (None, self.http.port):
            return urlunsplit((self.scheme, parts.netloc, parts.path, parts.query, parts.fragment))
        return url

    def _authorized(self, method: str, url: str, scopes: Sequence[str], headers: Mapping[str, str], body: Any,
                    length: int | None, idempotent: bool | None) -> Response:
        client = self._client_for(url)
        if client is not self.http:  # another origin (storage redirect, upload elsewhere): no credentials
            return self._send(client, Request(method, url, headers), body, length, idempotent)
        flow = self.auth.flow(Request(method, url, headers), scopes)
        out = next(flow)
        sent_body = False
        while True:
            resp: Response | None = None
            if out.kind == "token":
                reply = self._token(out)
            else:
                if sent_body and callable(body):
                    raise AuthError(f"{self.registry} asked to authenticate again in the middle of an upload",
                                    hint="run the command again")
                resp = self._send(client, out, body, length, idempotent)
                sent_body = True
                reply = Reply(resp.status, tuple(resp.header_all("WWW-Authenticate")))
            try:
                out = flow.send(reply)
            except StopIteration:
                assert resp is not None
                return resp
            except BaseException:
                if resp is not None:
                    resp.close()
                raise
            if resp is not None:
                resp.drain()
                resp.close()

    def _send(self, client: HttpClient, req: Request, body: Any, length: int | None,
              idempotent: bool | None) -> Response:
        started = time.monotonic()
        if callable(body):
            resp = client.send(req.method, req.url, req.headers, body, length=length)
        else:
            resp = client.request(req.method, req.url, req.headers, body, idempotent=idempotent)
        if self.settings.trace is not None:  # method, URL without query or userinfo, status, time: no headers
            self.settings.trace(f"{req.method} {shown_url(req.url)} {resp.status} "
                                f"{(time.monotonic() - started) * 1000:.0f}ms")
        return resp

    def _token(self, req: Request) -> Reply:
        client = self._client_for(req.url)
        with client.request("GET", req.url, req.headers, idempotent=True) as resp:
            data = resp.read(64 * 1024) if resp.status == 200 else b""
            if resp.status != 200:
                resp.drain()
            return Reply(resp.status, tuple(resp.header_all("WWW-Authenticate")), data)

    def error(self, resp: Response, what: str) -> RegistryError:
        """The error for an unexpected answer, with the registry's own error codes (never its headers)."""
        try:
            body = resp.read(_ERROR_BODY)
        except RegistryError:
            body = b""
        codes, detail = error_detail(body)
        text = f"{what}: {self.registry} answered {resp.status}" + (f" ({detail})" if detail else "")
        status = resp.status
        if not codes and status not in (401, 403, 429) and (alien := self.not_a_registry(what, status)):
            return alien
        if status in (401, 403):
            return AuthError(text, status=status, codes=codes,
                             hint=f"check your access; run `modelcrate login {self.registry}`")
        if status == 404:
            return RegistryNotFound(text, status=status, codes=codes)
        if status == 429:
            return RegistryError(text, status=status, codes=codes,
                                 hint="the registry is rate-limiting; wait and run the command again")
        if status >= 500:
            return RegistryError(text, status=status, codes=codes, hint="the registry failed; try again later")
        return RegistryError(text, status=status, codes=codes)

    # ---- registry-wide ----------------------------------------------------------------------------
    def not_a_registry(self, what: str, status: int) -> RegistryError | None:
        """The error to give when an answer without distribution error codes (``status``) came from
        something that is not a registry at all: ``GET /v2/`` (asked once per client) must answer 200,
        or 401/403 asking for a login; a web server answering 404 or 501 there is no registry."""
        with self._probe_lock:  # parallel blob uploads failing together ask once
            if self._v2_status is None:
                try:
                    with self.http.request("GET", self.url("/v2/"), idempotent=True) as resp:
                        resp.drain()
                        self._v2_status = resp.status
                except RegistryError:
                    return None  # no usable answer: the caller's own error says more
        if self._v2_status in (200, 401, 403):
            return None
        return RegistryError(f"{self.registry} is not an OCI registry: {what} answered {status} and GET /v2/ "
                             f"answered {self._v2_status}",
                             hint="check the host and port: something else (a web server?) answers there")

    def ping(self) -> None:
        """``GET /v2/`` with authentication; raises AuthError when the credentials are refused."""
        with self.request("GET", self.url("/v2/"), scopes=(), idempotent=True) as resp:
            if resp.status != 200:
                raise self.error(resp, "GET /v2/")
            resp.drain()

    def catalog(self) -> list[str]:
        """Every repository name the registry lists, sorted."""
        return listing.repository_names(self)


def catalog(registry: str, settings: RemoteSettings | None = None) -> list[str]:
    """Repository names of ``registry`` (``host[:port]``), sorted."""
    client = RegistryClient(registry, settings)
    try:
        return client.catalog()
    finally:
        client.close()
