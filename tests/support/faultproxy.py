"""A fault-injecting TCP proxy on 127.0.0.1 for registry tests.

Forwards to an upstream port and, when told to, cuts, stalls or truncates a
connection after N bytes, answers matching HTTP requests itself (503, 429...), cuts
the connection when a matching request arrives (``cut_requests``), or caps each
connection's rate (``rate_limit``). Byte counts start when a fault is *claimed*: by the first data that flows in its
direction after it was armed, so it also hits pooled keep-alive connections.

    with FaultProxy(registry.port) as proxy:
        proxy.cut("s2c", after=1000)             # next response dies after 1000 bytes
        proxy.inject(503, r"^PUT ", headers={"Retry-After": "1"}, times=2)
        ... point the client at proxy.url ...
        assert proxy.stats.c2s_body_bytes == 0
"""

from __future__ import annotations

import itertools
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.client import responses
from typing import Literal, Self

Direction = Literal["c2s", "s2c"]
_BUF = 64 * 1024
_serials = itertools.count()


@dataclass
class _Rule:
    kind: Literal["cut", "stall", "truncate"]
    direction: Direction
    after: int
    times: int  # connections still to claim this rule
    seconds: float | None = None  # stall length; None = until reset()/close()
    abort: bool = False  # cut with RST instead of FIN
    serial: int = field(default_factory=lambda: next(_serials))  # identifies the rule per connection


@dataclass
class _Inject:
    pattern: re.Pattern[str]
    status: int | None  # None: close the connection instead of answering
    headers: dict[str, str]
    body: bytes
    times: int
    skip: int = 0  # matching requests let through before this one applies


@dataclass
class RequestRecord:
    """A request the proxy saw on the client side."""

    line: str  # e.g. "PUT /v2/x/blobs/uploads/... HTTP/1.1"
    body_bytes: int = 0  # body bytes forwarded upstream (0 if injected/cut early)
    injected: int | None = None  # status the proxy answered with, if it did

    @property
    def method(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def target(self) -> str:
        parts = self.line.split(" ")
        return parts[1] if len(parts) > 1 else ""


@dataclass
class ProxyStats:
    connections: int = 0
    c2s_bytes: int = 0  # bytes delivered to the server (headers + bodies)
    s2c_bytes: int = 0  # bytes delivered to the client
    c2s_body_bytes: int = 0  # request body bytes delivered to the server
    cuts: int = 0  # cuts + truncations performed
    stalls: int = 0
    injected: int = 0
    requests: list[RequestRecord] = field(default_factory=list)


class _RequestFramer:
    """Splits a client byte stream into ("head", bytes), ("body", bytes), ("end", b"").

    Handles Content-Length and chunked bodies; anything it can't parse becomes opaque
    body bytes (then no further request heads are recognised on that connection).
    """

    def __init__(self) -> None:
        self.buf = b""
        self.state = "head"  # head | data | size | trailer | opaque
        self.remaining = 0
        self.after_data = "head"  # state after a data run: "head" (plain body) or "size" (chunk)

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        if self.state == "opaque":
            return [("body", data)]
        out: list[tuple[str, bytes]] = []
        self.buf += data
        while self.buf:
            if self.state == "head":
                self.buf = self.buf.lstrip(b"\r\n")  # stray CRLFs between requests are allowed
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > _BUF:
                        self.state = "opaque"
                        out.append(("body", self.buf))
                        self.buf = b""
                    break
                head, self.buf = self.buf[: end + 4], self.buf[end + 4 :]
                out.append(("head", head))
                try:
                    length, chunked = _body_framing(head)
                except ValueError:  # bad Content-Length: stop framing this connection
                    self.state = "opaque"
                    out.append(("body", self.buf))
                    self.buf = b""
                    break
                if chunked:
                    self.state = "size"
                elif length:
                    self.state, self.remaining, self.after_data = "data", length, "head"
                else:
                    out.append(("end", b""))
            elif self.state == "data":
                take, self.buf = self.buf[: self.remaining], self.buf[self.remaining :]
                self.remaining -= len(take)
                out.append(("body", take))
                if self.remaining == 0:
                    self.state = self.after_data
                    if self.state == "head":
                        out.append(("end", b""))
            else:  # chunk-size line or trailer line
                end = self.buf.find(b"\r\n")
                if end < 0:
                    break
                line, self.buf = self.buf[: end + 2], self.buf[end + 2 :]
                out.append(("body", line))
                if self.state == "trailer":
                    if line == b"\r\n":
                        self.state = "head"
                        out.append(("end", b""))
                    continue
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.state = "opaque"
                    out.append(("body", self.buf))
                    self.buf = b""
                    break
                if size == 0:
                    self.state = "trailer"
                else:  # chunk data plus its trailing CRLF
                    self.state, self.remaining, self.after_data = "data", size + 2, "size"
        return out


def _body_framing(head: bytes) -> tuple[int, bool]:
    """(Content-Length, is_chunked) of a request head."""
    length, chunked = 0, False
    for raw in head.split(b"\r\n")[1:]:
        name, _, value = raw.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip() or 0)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


class _Conn:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.lock = threading.Lock()
        self.closed = False
        self.rule: dict[str, _Rule | None] = {"c2s": None, "s2c": None}
        self.used: set[int] = set()  # serials of rules this connection already claimed
        self.seen: dict[str, int] = {"c2s": 0, "s2c": 0}
        self.eof: set[str] = set()
        self.discard_s2c = False  # after truncate: drop the rest of the response
        self.paced: dict[str, tuple[float, int]] = {}  # direction → (first byte time, bytes) for rate caps
        self.threads: list[threading.Thread] = []

    def close(self, abort: bool = False) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.upstream):
            try:
                if abort:  # SO_LINGER 0: close() sends RST; SHUT_RD wakes readers without a FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)
                else:
                    sock.shutdown(socket.SHUT_RDWR)  # FIN, and wakes the other pump's recv()
            except OSError:
                pass
            sock.close()


class FaultProxy:
    """TCP proxy 127.0.0.1:<port> -> 127.0.0.1:<upstream_port> with runtime faults."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._injects: list[_Inject] = []
        self._rate: dict[Direction, float | None] = {"c2s": None, "s2c": None}
        self._release = threading.Event()  # set to end current stalls
        self._closing = threading.Event()
        self._conns: list[_Conn] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # accept() polls so close() is always noticed
        self.port: int = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)
        self._accept_thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- arming faults ------------------------------------------------------------
    def cut(self, direction: Direction, after: int = 0, *, times: int = 1, abort: bool = False) -> None:
        """Close the whole connection once ``after`` bytes went ``direction`` (next ``times`` conns)."""
        self._add(_Rule("cut", direction, after, times, abort=abort))

    def truncate(self, after: int = 0, *, times: int = 1) -> None:
        """Half-close server->client after ``after`` bytes: the client sees a clean EOF, the rest is dropped."""
        self._add(_Rule("truncate", "s2c", after, times))

    def stall(self, direction: Direction, after: int = 0, *, seconds: float | None = None, times: int = 1) -> None:
        """Stop forwarding ``direction`` after ``after`` bytes for ``seconds`` (None: until reset())."""
        self._add(_Rule("stall", direction, after, times, seconds=seconds))

    def inject(
        self,
        status: int,
        match: str = r".",
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        times: int = 1,
        skip: int = 0,
    ) -> None:
        """Answer the next ``times`` requests whose request line matches ``match`` (re.search), after
        letting ``skip`` matching ones through."""
        with self._lock:
            self._injects.append(_Inject(re.compile(match), status, dict(headers or {}), body, times, skip))

    def cut_requests(self, match: str = r".", *, skip: int = 0, times: int = 1) -> None:
        """Close the connection when a request line matching ``match`` arrives, before any of that
        request reaches the server (after ``skip`` matching requests went through): the network failing
        between two requests, which leaves the server's state exactly as the last answer said."""
        with self._lock:
            self._injects.append(_Inject(re.compile(match), None, {}, b"", times, skip))

    def rate_limit(self, bytes_per_second: float | None, direction: Direction = "s2c") -> None:
        """Pace every connection to at most ``bytes_per_second`` in ``direction`` (None: no cap), the way
        object stores and CDNs cap one stream."""
        with self._lock:
            self._rate[direction] = bytes_per_second

    def reset(self) -> None:
        """Back to pass-through: drop armed faults and release current stalls. Stats are kept."""
        with self._lock:
            self._rules.clear()
            self._injects.clear()
            for conn in self._conns:
                conn.rule = {"c2s": None, "s2c": None}
            release, self._release = self._release, threading.Event()
        release.set()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = ProxyStats()

    def pending_faults(self) -> int:
        """Armed faults not yet claimed (tests can assert a fault actually fired)."""
        with self._lock:
            return sum(r.times for r in self._rules) + sum(i.times for i in self._injects)

    def _add(self, rule: _Rule) -> None:
        if rule.times < 1 or rule.after < 0:
            raise ValueError("times must be >= 1 and after >= 0")
        with self._lock:
            self._rules.append(rule)

    # -- plumbing -----------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            conn = _Conn(client, upstream)
            with self._lock:
                if self._closing.is_set():
                    conn.close()
                    return
                self._conns.append(conn)
                self.stats.connections += 1
            for direction in ("c2s", "s2c"):
                t = threading.Thread(target=self._pump, args=(conn, direction), name=f"faultproxy-{direction}", daemon=True)
                conn.threads.append(t)
                t.start()

    def _pump(self, conn: _Conn, direction: Direction) -> None:
        try:
            if direction == "s2c":
                while data := conn.upstream.recv(_BUF):
                    if self._send(conn, "s2c", data) < len(data) and conn.closed:
                        return
            else:
                self._pump_requests(conn)
        except OSError:
            pass  # the peer or close() ended the connection
        finally:
            self._finish(conn, direction)

    def _pump_requests(self, conn: _Conn) -> None:
        """Client->server, request by request, so request lines can be matched for inject()."""
        framer = _RequestFramer()
        record: RequestRecord | None = None
        injecting: _Inject | None = None
        while data := conn.client.recv(_BUF):
            for kind, chunk in framer.feed(data):
                if kind == "head":
                    line = chunk.split(b"\r\n", 1)[0].decode("latin-1")
                    record = RequestRecord(line)
                    injecting = self._take_inject(line)
                    with self._lock:
                        self.stats.requests.append(record)
                    if injecting is not None and injecting.status is None:
                        with self._lock:
                            self.stats.cuts += 1
                        conn.close(abort=True)
                        return
                    if injecting is not None:
                        record.injected = injecting.status
                        # With Expect: 100-continue the body only comes after a 100: answer now.
                        if b"\r\nexpect: 100-continue" in chunk.lower():
                            self._answer(conn, injecting)
                            return
                        continue
                elif kind == "end":
                    if injecting is not None:  # body swallowed: now answer and close
                        self._answer(conn, injecting)
                        return
                    continue
                if injecting is not None:
                    continue  # drop the body of a request we answer ourselves
                self._send(conn, "c2s", chunk, record if kind == "body" else None)
                if conn.closed:
                    return

    def _send(self, conn: _Conn, direction: Direction, data: bytes, body_of: RequestRecord | None = None) -> int:
        """Forward ``data`` applying this connection's fault; returns bytes forwarded.

        Counters move *before* sendall(): the peer may act on the bytes (and the test
        may read the stats) before sendall() even returns here.
        """
        dst = conn.upstream if direction == "c2s" else conn.client
        sent = 0
        while sent < len(data):
            if direction == "s2c" and conn.discard_s2c:
                return sent
            rule = self._rule_for(conn, direction)
            room = len(data) - sent if rule is None else rule.after - conn.seen[direction]
            if room > 0:
                part = data[sent : sent + room]
                with self._lock:
                    if direction == "c2s":
                        self.stats.c2s_bytes += len(part)
                    else:
                        self.stats.s2c_bytes += len(part)
                    if body_of is not None:
                        body_of.body_bytes += len(part)
                        self.stats.c2s_body_bytes += len(part)
                sent += len(part)
                conn.seen[direction] += len(part)
                dst.sendall(part)
                self._pace(conn, direction, len(part))
                continue
            assert rule is not None
            conn.rule[direction] = None  # a fault fires once per connection
            if rule.kind == "stall":
                with self._lock:
                    self.stats.stalls += 1
                    release = self._release
                release.wait(rule.seconds)
                if self._closing.is_set() or conn.closed:
                    return sent
            elif rule.kind == "truncate":
                with self._lock:
                    self.stats.cuts += 1
                conn.discard_s2c = True
                try:
                    conn.client.shutdown(socket.SHUT_WR)  # the client reads EOF mid-response
                except OSError:
                    pass
                return sent
            else:
                with self._lock:
                    self.stats.cuts += 1
                conn.close(abort=rule.abort)
                return sent
        return sent

    def _rule_for(self, conn: _Conn, direction: Direction) -> _Rule | None:
        """This connection's fault for ``direction``, claiming an armed one it hasn't had yet."""
        if conn.rule[direction] is not None:
            return conn.rule[direction]
        with self._lock:
            for rule in self._rules:
                if rule.direction == direction and rule.serial not in conn.used:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                    conn.used.add(rule.serial)
                    conn.rule[direction] = rule
                    conn.seen[direction] = 0  # "after N bytes" counts from the claim
                    return rule
        return None

    def _pace(self, conn: _Conn, direction: Direction, nbytes: int) -> None:
        """Sleep so that this connection stays under the rate cap for ``direction``."""
        rate = self._rate[direction]
        if not rate:
            return
        now = time.monotonic()
        start, total = conn.paced.get(direction, (now, 0))
        total += nbytes
        conn.paced[direction] = (start, total)
        ahead = start + total / rate - now
        if ahead > 0:
            time.sleep(ahead)

    def _take_inject(self, line: str) -> _Inject | None:
        with self._lock:
            for inj in self._injects:
                if inj.pattern.search(line):
                    if inj.skip:
                        inj.skip -= 1
                        return None
                    inj.times -= 1
                    if inj.times == 0:
                        self._injects.remove(inj)
                    self.stats.injected += 1
                    return inj
        return None

    def _answer(self, conn: _Conn, inj: _Inject) -> None:
        reason = responses.get(inj.status, "Injected")
        headers = {"Content-Type": "text/plain", **inj.headers, "Content-Length": str(len(inj.body)), "Connection": "close"}
        head = f"HTTP/1.1 {inj.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            conn.client.sendall(head.encode("latin-1") + inj.body)
        except OSError:
            pass
        conn.close()

    def _finish(self, conn: _Conn, direction: Direction) -> None:
        """Pass EOF on to the other side; close the pair once both directions ended."""
        if not conn.closed:
            try:
                (conn.upstream if direction == "c2s" else conn.client).shutdown(socket.SHUT_WR)
            except OSError:
                pass
        with conn.lock:
            conn.eof.add(direction)
            done = len(conn.eof) == 2
        if done or conn.closed:
            if done:
                conn.close()
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)

    # -- shutdown -----------------------------------------------------------------
    def close(self) -> None:
        """Stop accepting, end stalls, close every connection, join threads (bounded)."""
        self._closing.set()
        self._release.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() at once on Linux
        except OSError:
            pass
        self._listener.close()
        self._accept_thread.join(timeout=5)
        with self._lock:
            conns, self._conns = list(self._conns), []
        for conn in conns:
            conn.close()
        for conn in conns:
            for t in conn.threads:
                t.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
