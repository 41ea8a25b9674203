"""A server that drips its answer (one byte at a time, each just inside the socket timeout) cannot hold a
request for ever: every answer must keep a minimum rate, and ``--max-time`` bounds a whole operation."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from modelcrate.cli.main import cli
from modelcrate.content.remote import RegistryClient, RemoteSettings, RetryPolicy, Timeout
from modelcrate.errors import ModelcrateError
from modelcrate.format.descriptor import Descriptor

BODY = b"w" * 400
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()
GAP = 0.15  # seconds between dripped bytes: far inside any socket timeout used here


class Dripper:
    """Answers every request with 200 and ``BODY``, headers at once, then the body one byte per GAP
    (``drip_headers``: the status line and headers dripped too)."""

    def __init__(self, *, drip_headers: bool = False) -> None:
        self.drip_headers = drip_headers
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.closing = threading.Event()
        self.requests = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                while b"\r\n\r\n" not in (data := conn.recv(65536)):
                    if not data:
                        return
                self.requests += 1
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        f"Docker-Content-Digest: {DIGEST}\r\nContent-Length: {len(BODY)}\r\n\r\n").encode()
                if not self.drip_headers:
                    conn.sendall(head)
                    head = b""
                for i in range(len(head + BODY)):
                    if self.closing.is_set():
                        return
                    conn.sendall((head + BODY)[i:i + 1])
                    time.sleep(GAP)
            except OSError:
                return

    def close(self) -> None:
        self.closing.set()
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture(params=[False, True], ids=["body", "headers"])
def dripper(request: pytest.FixtureRequest) -> Iterator[Dripper]:
    server = Dripper(drip_headers=request.param)
    yield server
    server.close()


def test_a_dripped_answer_misses_the_minimum_rate(dripper: Dripper) -> None:
    settings = RemoteSettings(retry=RetryPolicy(attempts=1), timeout=Timeout(connect=2, read=1.0, min_rate=40))
    client = RegistryClient(f"127.0.0.1:{dripper.port}", settings)
    started = time.monotonic()
    with pytest.raises(ModelcrateError, match="minimum rate"):
        with client.repository("m").fetch(Descriptor("application/octet-stream", DIGEST, len(BODY))) as f:
            f.read()
    # The whole answer would take len(BODY) * GAP = 60 s; the rate (with the headers as credit) is missed
    # after a few seconds.
    assert time.monotonic() - started < 12
    client.close()


def test_max_time_bounds_the_whole_operation(tmp_path) -> None:
    server = Dripper()
    try:
        started = time.monotonic()
        r = CliRunner().invoke(cli, ["pull", f"127.0.0.1:{server.port}/m:1", "--max-time", "2"],
                               env={"MODELCRATE_HOME": str(tmp_path / "home")})
        took = time.monotonic() - started
    finally:
        server.close()
    assert r.exit_code not in (0, 70), r.output
    assert "did not finish within 2s (--max-time)" in r.output
    assert took < 6


def test_a_server_that_stops_reading_an_upload_is_bounded_by_max_time() -> None:
    from modelcrate.content.remote.http import DeadlineExceeded, _Metered

    ours, theirs = socket.socketpair()
    try:
        metered = _Metered(ours, Timeout(read=30, total=0.5), time.monotonic() + 0.5)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="within 0.5s"):
            for _ in range(1000):  # blocks of a body the peer never reads
                metered.sendall(b"x" * (1 << 20))
        assert time.monotonic() - started < 3
    finally:
        ours.close()
        theirs.close()
