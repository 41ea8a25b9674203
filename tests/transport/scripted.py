"""A small scripted HTTP server on 127.0.0.1 for behaviours registry 2.8.2 cannot show (storage
redirects, ``Link`` pagination, the OCI 1.1 referrers API). Answers GET/HEAD from ``routes``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

Route = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


class Scripted:
    """An HTTP server answering GET/HEAD from ``routes`` (path → function); records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                server.seen.append((self.command, self.path, dict(self.headers)))
                route = server.routes.get(self.path.split("?")[0])
                status, headers, body = route(self) if route else (404, {}, b"404 page not found\n")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = _serve  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[Scripted, Scripted]]:
    registry, storage = Scripted(), Scripted()
    yield registry, storage
    registry.close()
    storage.close()
