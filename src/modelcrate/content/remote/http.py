"""HTTP for registries: a small client over :mod:`http.client` with explicit timeouts, a connection pool,
retries for idempotent steps, and one boundary where foreign exceptions become ours.

Why :mod:`http.client` and not urllib3 (measured on the 2-core CI machine, 1 GiB blob from a loopback
``registry:2``): ``HTTPResponse.readinto`` into a 1–4 MiB buffer reads straight from the socket into the
caller's buffer and ran at ~1010 MiB/s; urllib3 2.x ``readinto`` reads into a fresh ``bytes`` and copies
(170–480 MiB/s) and its ``stream()`` reached 770–850 MiB/s. urllib3 is built on http.client anyway, and
its retry and redirect logic is what a registry client must *not* have (a PATCH is never re-sent blindly).

Timeouts: ``connect`` bounds the TCP connect and TLS handshake, ``read`` bounds every later socket
operation (a registry that sends nothing for that long is treated as gone), ``min_rate`` makes every
answer keep a minimum average rate (so a server dripping bytes just inside ``read`` is cut off), and
``total`` bounds a whole operation (``--max-time``). Nothing waits forever.

Retries: :class:`RetryPolicy` gives capped exponential backoff with jitter and honours ``Retry-After``;
:meth:`HttpClient.request` retries only when the caller says the step is idempotent.

Errors: :func:`mapped` is the one place where ``OSError``/``ssl``/``http.client`` exceptions become
:class:`TransportError` (no usable answer; worth retrying) or :class:`~modelcrate.errors.RegistryError`.
Messages show method, host and path only: never a query string (pre-signed URLs carry secrets there),
never a header.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from ... import __version__
from ...errors import INTERRUPTED_HINT, ModelcrateError, RegistryError
from .settings import RetryPolicy, Timeout  # noqa: F401 - also named here, where they are used

USER_AGENT = f"modelcrate/{__version__}"
# Send and receive buffers. 1 MiB blocks run as fast as 4 MiB ones (measured, see module docstring) and
# keep the memory of four parallel transfers small.
BLOCK = 1 << 20
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


_CANCEL = threading.Event()
_LIVE: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def cancel_all() -> None:
    """Stop every registry transfer of this process now (Ctrl-C): no new request, no retry, and every open
    connection is shut down so that threads blocked reading or writing return at once. Stores and unpack
    then stop as the error unwinds: nothing incomplete is put in place, and partial downloads stay to be
    resumed by the next run."""
    _CANCEL.set()
    with _LIVE_LOCK:
        conns = list(_LIVE)
    for conn in conns:
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def cancelled() -> bool:
    return _CANCEL.is_set()


def reset_cancel() -> None:
    """Allow transfers again after :func:`cancel_all` (for long-lived processes and tests)."""
    _CANCEL.clear()


def _check_cancel() -> None:
    if _CANCEL.is_set():
        raise TransportError("interrupted", hint=INTERRUPTED_HINT)


def pause(seconds: float) -> None:
    """Sleep between retries; returns early, raising, when the transfer is cancelled."""
    if _CANCEL.wait(seconds):
        _check_cancel()


class TransportError(RegistryError):
    """No usable answer: connection refused or reset, a timeout, or a response cut short."""

    hint = "check the registry address and the network, then run the command again (finished blobs are not re-sent)"
    resumable = True

    def __init__(self, message: str, *, timed_out: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.timed_out = timed_out


def retry_after(headers: Mapping[str, str] | http.client.HTTPMessage | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def shown_url(url: str) -> str:
    """``scheme://host/path`` of ``url`` for messages: no userinfo, no query, no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@contextlib.contextmanager
def mapped(method: str, url: str, timeout: Timeout) -> Iterator[None]:
    """Translate socket, TLS and http.client failures into :class:`TransportError`/`RegistryError`."""
    where = f"{method} {shown_url(url)}"
    host = urlsplit(url).netloc.rpartition("@")[2]
    try:
        yield
    except ModelcrateError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise RegistryError(
            f"{where}: the TLS certificate of {host} is not trusted ({exc.verify_message or exc.reason})",
            hint="trust the registry's CA certificate, or skip certificate verification",
        ) from None
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        plain = reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE")
        hint = "the registry may speak plain HTTP" if plain else None
        raise TransportError(f"{where}: TLS failed ({reason})", hint=hint) from None
    except _TooSlow as exc:
        raise TransportError(f"{where}: {exc}", timed_out=True) from None
    except TimeoutError:
        raise TransportError(f"{where}: no answer within {timeout.read:g}s (timeout)", timed_out=True) from None
    except ConnectionRefusedError:
        raise TransportError(f"{where}: connection refused; is the registry running at {host}?") from None
    except socket.gaierror as exc:
        raise TransportError(f"{where}: cannot resolve {host} ({exc.strerror})") from None
    except http.client.IncompleteRead as exc:
        raise TransportError(f"{where}: connection closed after {len(exc.partial)} bytes of the body") from None
    except http.client.RemoteDisconnected:
        raise TransportError(f"{where}: the registry closed the connection without answering") from None
    except http.client.HTTPException as exc:
        raise TransportError(f"{where}: malformed HTTP response ({type(exc).__name__})") from None
    except OSError as exc:
        raise TransportError(f"{where}: {exc.strerror or type(exc).__name__}") from None


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, timeout: Timeout) -> None:
        super().__init__(host, port, timeout=timeout.connect, blocksize=BLOCK)
        self._read_timeout = timeout.read

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self._read_timeout)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int | None, timeout: Timeout, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout.connect, context=context, blocksize=BLOCK)
        self._read_timeout = timeout.read

    def connect(self) -> None:
        super().connect()  # TCP connect and TLS handshake under the connect timeout
        self.sock.settimeout(self._read_timeout)


def tls_context(*, ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """System CAs by default; ``ca_file`` adds a CA bundle; ``insecure`` skips verification."""
    ctx = ssl.create_default_context()
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise RegistryError(f"cannot load CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}") from None
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _Metered:
    """A connection's socket that enforces :class:`Timeout`'s minimum rate and the operation deadline
    on every receive (headers and body alike): each receive waits at most until the rate would be
    missed, so neither a silent nor a dripping server holds a request past its deadline."""

    def __init__(self, sock: socket.socket, timeout: Timeout, deadline: float | None) -> None:
        self._sock, self._timeout, self._deadline = sock, timeout, deadline
        self.begin()

    def begin(self) -> None:
        """A new request goes out on this connection: its answer is measured from now."""
        self._start, self._received = time.monotonic(), 0
        self._sock.settimeout(self._timeout.read)  # sending keeps the plain timeout

    def _wait(self) -> tuple[float, BaseException | None]:
        """How long the next receive may wait, and what it means if that wait runs out."""
        now = time.monotonic()
        t = self._timeout
        waits: list[tuple[float, BaseException | None]] = [(t.read, None)]
        if t.min_rate > 0:  # the rate is missed at start + read + received / min_rate
            # Before the first byte this is just the read timeout, counted from the request.
            slow = _TooSlow(f"the answer arrived below the minimum rate of {t.min_rate:g} bytes/s "
                            f"({self._received} bytes in {now - self._start:.0f}s)") if self._received else None
            waits.append((self._start + t.read + self._received / t.min_rate - now, slow))
        if self._deadline is not None:
            waits.append((self._deadline - now, DeadlineExceeded(t.total or 0.0)))
        wait, why = min(waits, key=lambda w: w[0])
        if wait <= 0:
            raise why if why is not None else TimeoutError()
        return wait, why

    def _receive(self, call: Callable[..., Any], *args: Any) -> Any:
        wait, why = self._wait()
        self._sock.settimeout(wait)
        try:
            got = call(*args)
        except TimeoutError:
            if why is not None:
                raise why from None
            raise
        self._received += got if isinstance(got, int) else len(got)
        return got

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return self._receive(self._sock.recv_into, buffer, nbytes, flags)  # type: ignore[no-any-return]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self._receive(self._sock.recv, bufsize, flags)  # type: ignore[no-any-return]

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send under the read timeout, and never past the operation deadline (a server that reads a
        request body slowly holds an upload no longer than ``total``)."""
        wait = self._timeout.read
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded(self._timeout.total or 0.0)
            wait = min(wait, left)
        self._sock.settimeout(wait)
        try:
            self._sock.sendall(data, flags)
        except TimeoutError:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                raise DeadlineExceeded(self._timeout.total or 0.0) from None
            raise

    def makefile(self, mode: str = "rb", buffering: int | None = None) -> Any:
        import io

        return io.BufferedReader(socket.SocketIO(self, "rb"), buffering or io.DEFAULT_BUFFER_SIZE)  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:
        pass  # the real socket's makefile was never used; closing the connection closes it

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _TooSlow(TimeoutError):
    """An answer fell below :attr:`Timeout.min_rate` (mapped to a TransportError, so it is retried)."""


class DeadlineExceeded(ModelcrateError):
    """The operation's overall time (``--max-time``) ran out; not retried."""

    def __init__(self, total: float) -> None:
        super().__init__(f"the operation did not finish within {total:g}s (--max-time)",
                         hint="raise --max-time, or check the registry and the network")


def _meter(conn: http.client.HTTPConnection, timeout: Timeout, deadline: float | None) -> None:
    """Start measuring the answer to the request about to be sent on ``conn``."""
    if isinstance(conn.sock, _Metered):
        conn.sock.begin()
    elif conn.sock is not None:
        conn.sock = _Metered(conn.sock, timeout, deadline)  # type: ignore[assignment]


class Response:
    """One HTTP response. A context manager: leaving it returns the connection to the pool when the body
    was read to the end, and closes the connection otherwise."""

    def __init__(self, client: HttpClient, conn: http.client.HTTPConnection, raw: http.client.HTTPResponse,
                 method: str, url: str) -> None:
        self._client = client
        self._conn: http.client.HTTPConnection | None = conn
        self.raw = raw
        self.method = method
        self.url = url
        self.status = raw.status
        self.headers = raw.headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def header_all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []

    def readinto(self, buffer: memoryview | bytearray) -> int:
        with mapped(self.method, self.url, self._client.timeout):
            return self.raw.readinto(buffer) or 0

    def read(self, limit: int = 1 << 20) -> bytes:
        """The whole body, refusing more than ``limit`` bytes (the declared length is not trusted)."""
        with mapped(self.method, self.url, self._client.timeout):
            data = self.raw.read(limit + 1)
        if len(data) > limit:
            self.close()
            raise RegistryError(f"{self.method} {shown_url(self.url)}: response body over the {limit}-byte limit")
        return data

    def drain(self, limit: int = 64 * 1024) -> None:
        """Read and drop a small body so the connection can be reused; close it if the body is large."""
        if self.raw.length is not None and self.raw.length > limit:
            self.close()
            return
        with contextlib.suppress(ModelcrateError):
            self.read(limit)

    def abort(self) -> None:
        """Wake a thread blocked reading this response: shut the socket down (closing alone does not)."""
        conn = self._conn
        sock = conn.sock if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if not self.raw.isclosed() and self.raw.length == 0:
            self.raw.read()  # HEAD, 204 and empty bodies: nothing to read, but mark the response done
        if self.raw.isclosed() and not self.raw.will_close:
            self._client.release(conn)
        else:
            self.raw.close()
            conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


BodyWriter = Callable[[Callable[[memoryview], None]], None]


class HttpClient:
    """Connections to one ``scheme://host:port``, pooled and reused; thread-safe.

    ``request`` sends one request and returns the :class:`Response` with its body unread. Request bodies
    are bytes, or a *body writer*: a function called with ``send(view)`` that pushes the body in blocks,
    so uploads stream from their source without being held in memory.
    """

    def __init__(self, scheme: str, host: str, port: int | None, *, timeout: Timeout = Timeout(),
                 retry: RetryPolicy = RetryPolicy(), context: ssl.SSLContext | None = None,
                 max_idle: int = 8, deadline: float | None = None) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {scheme!r}")
        self.scheme, self.host = scheme, host.lower().strip("[]")
        self.port = port if port is not None else (443 if scheme == "https" else 80)
        self.timeout = timeout
        self.retry = retry
        self._context = context if context is not None else (tls_context() if scheme == "https" else None)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle
        self.deadline = deadline  # time.monotonic() by which the whole operation must be done

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def serves(self, url: str) -> bool:
        """True if ``url`` points at this client's scheme, host and port."""
        parts = urlsplit(url)
        port = parts.port if parts.port is not None else (443 if parts.scheme == "https" else 80)
        return (parts.scheme, (parts.hostname or "").lower(), port) == (self.scheme, self.host, self.port)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new_connection()

    def release(self, conn: http.client.HTTPConnection) -> None:
        """Take back a connection whose response was read to the end (kept idle for reuse)."""
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def send(self, method: str, url: str, headers: Mapping[str, str] | None = None,
             body: bytes | memoryview | BodyWriter | None = None, *, length: int | None = None) -> Response:
        """One attempt, no retry. ``url`` is absolute and must point at this client's host."""
        _check_cancel()
        if not self.serves(url):
            raise ValueError(f"{shown_url(url)} is not served by {self.base}")
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        if body is None:
            size = length if length is not None else (0 if method in ("POST", "PUT", "PATCH") else None)
        elif callable(body):
            if length is None:
                raise ValueError("a body writer needs a length")
            size = length
        else:
            size = len(body)
        if size is not None:
            hdrs["Content-Length"] = str(size)
        # A pooled connection may have been closed by the server while idle. For a request that is safe
        # to repeat, that failure is retried once on a fresh connection; anything else (a PATCH, a
        # streamed body) is left to the caller, who asks the registry what arrived.
        replayable = not callable(body) and (body is None or method in IDEMPOTENT)
        for fresh_retry in (False, True):
            conn, reused = self._connection() if not fresh_retry else self._new_connection()
            try:
                with mapped(method, url, self.timeout):
                    self._check_deadline()
                    if conn.sock is None:
                        conn.connect()
                    _meter(conn, self.timeout, self.deadline)
                    self._send(conn, method, target, hdrs, body)
                    raw = conn.getresponse()
            except TransportError:
                conn.close()
                _check_cancel()
                if reused and not fresh_retry and replayable:
                    continue
                raise
            except BaseException:
                conn.close()  # an error from the body writer's source: the request is abandoned mid-body
                raise
            return Response(self, conn, raw, method, url)
        raise AssertionError("unreachable")

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise DeadlineExceeded(self.timeout.total or 0.0)

    def _new_connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn: http.client.HTTPConnection
        if self.scheme == "https":
            assert self._context is not None
            conn = _HTTPSConnection(self.host, self.port, self.timeout, self._context)
        else:
            conn = _HTTPConnection(self.host, self.port, self.timeout)
        with _LIVE_LOCK:
            _LIVE.add(conn)
        return conn, False

    @staticmethod
    def _send(conn: http.client.HTTPConnection, method: str, target: str, headers: Mapping[str, str],
              body: bytes | memoryview | BodyWriter | None) -> None:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        if body is None:
            return
        if callable(body):
            try:
                body(conn.send)
            except (BrokenPipeError, ConnectionResetError):
                # The server answered early (an error, or auth) and stopped reading: its answer is what
                # matters, and getresponse() below reads it if it arrived.
                pass
            return
        try:
            conn.send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None,
                body: bytes | None = None, *, idempotent: bool | None = None) -> Response:
        """Send with retries when the step is idempotent (by default: by method): on connection errors,
        timeouts, 408/429/5xx, with :attr:`retry`'s backoff and ``Retry-After``."""
        if idempotent is None:
            idempotent = method in IDEMPOTENT
        attempts = self.retry.attempts if idempotent else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                resp = self.send(method, url, headers, body)
            except TransportError:
                if last or _CANCEL.is_set():
                    raise
                self.retry.sleep(self.retry.delay(attempt))
                continue
            if resp.status in RETRY_STATUSES and not last:
                wait = self.retry.delay(attempt, retry_after(resp.headers))
                resp.drain()
                resp.close()
                self.retry.sleep(wait)
                continue
            return resp
        raise AssertionError("unreachable")


# ---- redirects -------------------------------------------------------------------------------------
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def redirect_target(url: str, location: str) -> str:
    """The absolute URL a redirect from ``url`` to ``location`` leads to, refusing what must not be
    followed: a scheme other than HTTP(S), and HTTPS to HTTP (the blob, and a pre-signed URL's query,
    would travel in clear). Whether credentials go along is the caller's rule: only to the same origin."""
    target = urljoin(url, location)
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistryError(f"{shown_url(url)} redirected to an unusable URL {shown_url(target)}")
    if urlsplit(url).scheme == "https" and parts.scheme == "http":
        raise RegistryError(f"{shown_url(url)} redirected to plain HTTP ({shown_url(target)}); refused",
                            hint="a registry reached over HTTPS must not send content over plain HTTP")
    return target


def redirected_method(method: str, status: int) -> str:
    """303 turns any request but HEAD into a GET; 307 and 308 keep the method (so do 301/302 for the
    GET and HEAD requests a registry client follows)."""
    return "GET" if status == 303 and method != "HEAD" else method


def error_detail(body: bytes) -> tuple[list[str], str]:
    """The distribution-spec error codes and a short, printable message from an error body."""
    from ...format import untrusted_json

    try:
        obj: Any = untrusted_json.loads(body, max_bytes=1 << 20, what="error body", error=RegistryError)
    except (ValueError, UnicodeDecodeError):
        text = body[:200].decode("utf-8", "replace").strip().splitlines()
        return [], text[0] if text else ""
    codes, messages = [], []
    errors = obj.get("errors") if isinstance(obj, dict) else None
    for err in errors if isinstance(errors, list) else []:  # `"errors": true` is as likely as a list
        if isinstance(err, dict):
            code, message = str(err.get("code", ""))[:64], str(err.get("message", ""))[:200]
            codes.append(code)
            messages.append(f"{code.lower().replace('_', ' ')}: {message}" if code else message)
    return codes, "; ".join(messages)
