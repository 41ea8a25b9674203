"""A tiny Docker-style token server (registry "token" auth) for tests.

It answers ``GET /token?service=S&scope=repository:NAME:pull,push`` with a JWT the
registry:2 process accepts. Registry 2.8.2 looks for the signing key via the JWT
header: we put the signing certificate in ``x5c``; that certificate is self-signed
and is the only one in the registry's ``rootcertbundle``, so the chain verifies.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

ALL_ACTIONS = frozenset({"pull", "push", "delete", "*"})


def _b64url(data: bytes) -> str:
    # JWTs use unpadded base64url.
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class TokenRequest:
    """One request the token server answered (or refused)."""

    user: str | None  # None = anonymous
    scopes: list[str]  # raw scope strings, as sent
    granted: list[dict] = field(default_factory=list)  # the "access" claim issued
    status: int = 200


class TokenSigner:
    """Signing key + self-signed certificate; produces JWTs with an ``x5c`` header."""

    def __init__(self, algorithm: str = "ES256") -> None:
        if algorithm not in ("ES256", "RS256"):
            raise ValueError(f"unsupported algorithm {algorithm!r}")
        self.algorithm = algorithm
        self._key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        if algorithm == "ES256":
            self._key = ec.generate_private_key(ec.SECP256R1())
        else:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelcrate test token signer")])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            # Backdated so a slightly skewed clock can't make it "not yet valid".
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, claims: dict) -> str:
        der_cert = self.certificate.public_bytes(serialization.Encoding.DER)
        # x5c uses standard (padded) base64, unlike the rest of the JWT.
        header = {"typ": "JWT", "alg": self.algorithm, "x5c": [base64.b64encode(der_cert).decode("ascii")]}
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        ).encode("ascii")
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            # JWS wants raw r||s (32 bytes each), cryptography gives DER.
            r, s = decode_dss_signature(self._key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode("ascii") + "." + _b64url(signature)


def parse_scope(scope: str) -> tuple[str, str, list[str]]:
    """``repository:ns/name:pull,push`` -> ("repository", "ns/name", ["pull", "push"])."""
    rtype, rest = scope.split(":", 1)
    name, actions = rest.rsplit(":", 1)
    return rtype, name, [a for a in actions.split(",") if a]


class TokenServer:
    """Threaded token endpoint on 127.0.0.1. Use as a context manager or start()/stop().

    ``allowed_actions`` limits what the user may be granted (e.g. {"pull"} for a read-only
    user); anonymous callers get ``anonymous_actions`` (default: nothing, i.e. 401).
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        service: str = "modelcrate-test-registry",
        issuer: str = "modelcrate-test-issuer",
        algorithm: str = "ES256",
        expires_in: int = 300,
        allowed_actions: frozenset[str] | set[str] = ALL_ACTIONS,
        anonymous_actions: frozenset[str] | set[str] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.allowed_actions = frozenset(allowed_actions)
        self.anonymous_actions = None if anonymous_actions is None else frozenset(anonymous_actions)
        self.signer = TokenSigner(algorithm)
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- info for tests ------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "token server not started"
        return self._httpd.server_address[1]

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    @property
    def scopes_requested(self) -> list[str]:
        """Every scope string received, in order (flattened over requests)."""
        with self._lock:
            return [s for r in self.requests for s in r.scopes]

    def reset_stats(self) -> None:
        with self._lock:
            self.requests.clear()

    def write_cert_bundle(self, path: Path) -> Path:
        path.write_bytes(self.signer.cert_pem())
        return path

    def issue(self, subject: str, access: list[dict], *, expires_in: int | None = None) -> str:
        """Mint a token directly (tests can forge/expire tokens without HTTP)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,  # registry 2.8.2 expects a single string
            "exp": now + (self.expires_in if expires_in is None else expires_in),
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        return self.signer.sign(claims)

    # -- request handling ----------------------------------------------------------
    def _authenticate(self, header: str | None) -> tuple[bool, str | None]:
        """-> (ok, user). user None means anonymous."""
        if not header:
            return self.anonymous_actions is not None, None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, pw = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, None
        ok = hmac.compare_digest(user.encode(), self.username.encode()) and hmac.compare_digest(
            pw.encode(), self.password.encode()
        )
        return ok, user

    def _grant(self, scopes: list[str], allowed: frozenset[str]) -> list[dict]:
        merged: dict[tuple[str, str], list[str]] = {}
        for scope in scopes:
            rtype, name, actions = parse_scope(scope)
            got = merged.setdefault((rtype, name), [])
            got.extend(a for a in actions if a in allowed and a not in got)
        return [{"type": t, "name": n, "actions": a} for (t, n), a in merged.items()]

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        url = urlsplit(req.path)
        if url.path != "/token":
            self._reply(req, 404, {"error": "not found"})
            return
        query = parse_qs(url.query, keep_blank_values=True)
        # A scope param may itself hold several space-separated scopes.
        scopes = [s for value in query.get("scope", []) for s in value.split()]
        record = TokenRequest(user=None, scopes=scopes)
        with self._lock:
            self.requests.append(record)
        service = query.get("service", [self.service])[0]
        if service != self.service:
            record.status = 400
            self._reply(req, 400, {"error": f"unknown service {service!r}"})
            return
        ok, user = self._authenticate(req.headers.get("Authorization"))
        record.user = user
        if not ok:
            record.status = 401
            self._reply(req, 401, {"error": "bad credentials"}, {"WWW-Authenticate": 'Basic realm="token"'})
            return
        try:
            allowed = self.allowed_actions if user is not None else (self.anonymous_actions or frozenset())
            record.granted = self._grant(scopes, allowed)
        except ValueError:
            record.status = 400
            self._reply(req, 400, {"error": "malformed scope"})
            return
        token = self.issue(user or "", record.granted)
        issued_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"token": token, "access_token": token, "expires_in": self.expires_in, "issued_at": issued_at}
        self._reply(req, 200, body)

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)
