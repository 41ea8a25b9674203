"""Blob storage on another host, the way GHCR, Docker Hub and ECR serve weights: a front server forwards
every request to a real registry:2, except blob GETs, which it answers ``307`` to a one-time pre-signed
URL on a storage server (``localhost``, another port: another origin). The storage server streams the
blob it fetches from the registry, honours ``Range``, records the headers it was sent, refuses a URL used
twice (pre-signed URLs expire) and can cut its first answers after N bytes. 127.0.0.1 only."""

from __future__ import annotations

import http.client
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_BLOB = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_HOP = {"connection", "keep-alive", "transfer-encoding"}  # Host goes along: Locations name the front


def _server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd


class Redirector:
    """``front`` (the registry address clients use) and ``storage``; ``registry_auth`` is the
    Authorization value the storage server itself uses to read from the registry."""

    def __init__(self, registry_port: int, registry_auth: str | None = None, *, status: int = 307) -> None:
        self.registry_port = registry_port
        self.registry_auth = registry_auth
        self.status = status
        self.signed: dict[str, tuple[str, str]] = {}  # one-time token → (repository, digest)
        self.storage_headers: list[dict[str, str]] = []
        self.redirects = 0
        self.cut_after: list[int] = []  # byte counts at which the next storage answers die
        self._lock = threading.Lock()
        self.front = _server(self._front_handler())
        self.storage = _server(self._storage_handler())

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.front.server_address[1]}"

    @property
    def storage_origin(self) -> str:
        return f"http://localhost:{self.storage.server_address[1]}"

    def close(self) -> None:
        for httpd in (self.front, self.storage):
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> Redirector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _upstream(self, method: str, path: str, headers: dict[str, str], body: bytes | None
                  ) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.registry_port, timeout=30)
        conn.request(method, path, body=body, headers=headers)
        return conn.getresponse()

    def _front_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Front(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                match = _BLOB.match(self.path.split("?")[0])
                if self.command == "GET" and match:
                    # Only a client the registry lets read the blob gets a pre-signed URL.
                    check = outer._upstream("HEAD", self.path, headers, None)
                    check.read()
                    if check.status in (200, 206):
                        token = secrets.token_urlsafe(16)
                        with outer._lock:
                            outer.signed[token] = (match["repo"], match["digest"])
                            outer.redirects += 1
                        where = f"{outer.storage_origin}/store/{match['digest']}?X-Signature={token}"
                        self._answer(outer.status, {"Location": where}, b"")
                        return
                resp = outer._upstream(self.command, self.path, headers, body)
                data = resp.read()
                out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP | {"content-length"}}
                self._answer(resp.status, out, data, resp.getheader("Content-Length"))

            def _answer(self, status: int, headers: dict[str, str], data: bytes, length: str | None = None) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                head = self.command == "HEAD" and length is not None
                self.send_header("Content-Length", length if head else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        return Front

    def _storage_handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Storage(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                with outer._lock:
                    outer.storage_headers.append(dict(self.headers))
                    token = self.path.partition("X-Signature=")[2]
                    found = outer.signed.pop(token, None)  # one use only
                if found is None:
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                repo, digest = found
                headers = {"Authorization": outer.registry_auth} if outer.registry_auth else {}
                headers["Host"] = f"127.0.0.1:{outer.registry_port}"
                if self.headers.get("Range"):
                    headers["Range"] = self.headers["Range"]
                resp = outer._upstream("GET", f"/v2/{repo}/blobs/{digest}", headers, None)
                with outer._lock:  # a cut is used by the first answer long enough to be cut
                    long_enough = outer.cut_after and int(resp.getheader("Content-Length") or 0) > outer.cut_after[0]
                    cut = outer.cut_after.pop(0) if long_enough else None
                self.send_response(resp.status)
                for k in ("Content-Length", "Content-Range", "Content-Type"):
                    if resp.getheader(k):
                        self.send_header(k, resp.getheader(k))
                self.end_headers()
                sent = 0
                while chunk := resp.read(64 * 1024):
                    if cut is not None and sent + len(chunk) > cut:
                        self.wfile.write(chunk[: cut - sent])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.wfile.write(chunk)
                    sent += len(chunk)

            def log_message(self, *args: object) -> None:
                pass

        return Storage
