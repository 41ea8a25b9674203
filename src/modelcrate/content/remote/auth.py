"""Registry authentication without I/O: ``WWW-Authenticate`` parsing and the challenge flow as a generator.

:meth:`Authenticator.flow` yields the requests to send (the caller's request with an ``Authorization``
header, or a request to a token service) and receives each answer as a :class:`Reply`. It never touches a
socket, so it is tested with recorded headers, and the HTTP layer stays free of auth logic (httpx's
``Auth.auth_flow`` shape).

What it does, per registry:

* Anonymous first. On ``401`` with a ``Basic`` challenge it sends the credentials and from then on sends
  them *pre-emptively* with every request, so a request body goes over the wire once, not twice.
* On a ``Bearer`` challenge (distribution "token authentication") it asks the realm for a token covering
  the scopes the operation needs plus the scope the challenge names, caches it per scope set until shortly
  before ``expires_in`` runs out, and from then on fetches tokens for new scopes *before* sending, so a
  pull, a push or a cross-repository mount (``repository:A:pull repository:B:pull,push``) costs one token
  request, not one per blob.
* Wrong credentials, a missing login, or a refused scope end in one :class:`~modelcrate.errors.AuthError`
  with the next step; the flow never loops. Secrets (passwords, tokens) never enter a message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode, urlsplit

from ...errors import AuthError, RegistryError
from ...format import untrusted_json
from .credentials import Credentials
from .settings import is_loopback, split_host

# Refresh a token this long before the registry would reject it (clock skew, request latency).
TOKEN_MARGIN = 10.0
MIN_TOKEN_LIFETIME = 60  # distribution spec: "if omitted, defaults to 60 seconds"


@dataclass(frozen=True)
class Challenge:
    """One challenge from ``WWW-Authenticate``: scheme (lower-case) and parameters (keys lower-case)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values (RFC 9110 §11.6.1): several challenges per value, quoted
    strings with backslash escapes, commas inside quotes.

    >>> parse_challenges(['Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"'])[0].params["scope"]
    'repository:a:pull'
    """
    out: list[Challenge] = []
    for value in values:
        out.extend(_parse_one(value))
    return out


def _parse_one(value: str) -> list[Challenge]:
    out: list[Challenge] = []
    params: dict[str, str] | None = None
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        start = i
        while i < n and value[i] not in " \t,=":
            i += 1
        word = value[start:i]
        if not word:
            i += 1
            continue
        j = i
        while j < n and value[j] in " \t":
            j += 1
        if j < n and value[j] == "=" and params is not None:
            i = j + 1
            while i < n and value[i] in " \t":
                i += 1
            if i < n and value[i] == '"':
                i += 1
                chars = []
                while i < n and value[i] != '"':
                    if value[i] == "\\" and i + 1 < n:
                        i += 1
                    chars.append(value[i])
                    i += 1
                i += 1  # the closing quote
                params[word.lower()] = "".join(chars)
            else:
                start = i
                while i < n and value[i] not in " \t,":
                    i += 1
                params[word.lower()] = value[start:i]
        else:
            params = {}
            out.append(Challenge(word.lower(), params))
            i = j
    return out


def merge_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Canonical scope set: one entry per resource with the union of its actions, sorted.

    >>> merge_scopes(["repository:a:pull", "repository:a:push", "repository:b:pull"])
    ('repository:a:pull,push', 'repository:b:pull')
    """
    merged: dict[tuple[str, str], set[str]] = {}
    order = {"pull": 0, "push": 1, "delete": 2, "*": 3}
    for scope in scopes:
        for one in scope.split():
            kind, _, rest = one.partition(":")
            name, _, actions = rest.rpartition(":")
            if not kind or not name:
                continue
            merged.setdefault((kind, name), set()).update(a for a in actions.split(",") if a)
    return tuple(sorted(f"{k}:{n}:{','.join(sorted(a, key=lambda x: (order.get(x, 9), x)))}"
                        for (k, n), a in merged.items()))


@dataclass(frozen=True)
class Request:
    """A request the flow wants sent. ``kind`` is "api" (the caller's) or "token" (to the realm)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    kind: str = "api"

    def with_auth(self, value: str | None) -> Request:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        if value:
            headers["Authorization"] = value
        return replace(self, headers=headers)

    @property
    def authorization(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "authorization"), None)


@dataclass(frozen=True)
class Reply:
    """What the flow needs of an answer: status, challenges, and (token requests only) the body."""

    status: int
    www_authenticate: Sequence[str] = ()
    body: bytes = b""


CredentialSource = Callable[[], "Credentials | None"]


class Authenticator:
    """Auth state for one registry host, shared by every repository and thread talking to it."""

    def __init__(self, host: str, credentials: Credentials | CredentialSource | None = None,
                 clock: Callable[[], float] = time.monotonic, *, registry_scheme: str = "https") -> None:
        self.host = host
        self.registry_scheme = registry_scheme
        self._source = credentials
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._clock = clock
        self._lock = threading.Lock()
        self.scheme: str | None = None  # "basic" or "bearer" once the registry said so
        self._realm: str | None = None
        self._service: str | None = None
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}

    # ---- credentials ------------------------------------------------------------------------------
    def credentials(self) -> Credentials | None:
        """The credentials for this host, looked up once (config files and helpers are read lazily)."""
        with self._lock:
            if not self._creds_loaded:
                source = self._source
                self._creds = source() if callable(source) else source
                self._creds_loaded = True
            return self._creds

    def _login_hint(self) -> str:
        return f"run `modelcrate login {self.host}`"

    # ---- the flow ---------------------------------------------------------------------------------
    def flow(self, request: Request, scopes: Sequence[str]) -> Generator[Request, Reply, None]:
        """Yield ``request`` (authorised as well as is known) and any token requests; raise AuthError
        when access is refused. The caller keeps the last answer to ``request`` as the result."""
        wanted = merge_scopes(scopes)
        header = yield from self._known_header(wanted)
        reply = yield request.with_auth(header)
        if reply.status != 401:
            return
        challenges = parse_challenges(reply.www_authenticate)
        challenge = next((c for c in challenges if c.scheme == "bearer"), None) or \
            next((c for c in challenges if c.scheme == "basic"), None)
        if challenge is None:
            shown = " ".join(", ".join(sorted({c.scheme for c in challenges})).split())[:200] or "no challenge"
            raise AuthError(f"{self.host} refused the request (401) and asks for {shown}, "
                            "which modelcrate does not support", status=401)
        if challenge.scheme == "basic":
            creds = self.credentials()
            if creds is None:
                raise AuthError(f"{self.host} requires a login", status=401, hint=self._login_hint())
            if header is not None and header.startswith("Basic "):
                raise self._refused(creds)
            with self._lock:
                self.scheme = "basic"
            reply = yield request.with_auth(creds.basic_header())
            if reply.status == 401:
                raise self._refused(creds)
            return
        realm = challenge.params.get("realm", "")
        if urlsplit(realm).scheme not in ("http", "https") or not urlsplit(realm).hostname:
            raise AuthError(f"{self.host} sent a Bearer challenge without a usable realm URL", status=401)
        check_realm(self.host, self.registry_scheme, realm)
        needed = merge_scopes([*wanted, *challenge.params.get("scope", "").split()])
        with self._lock:
            self.scheme = "bearer"
            self._realm, self._service = realm, challenge.params.get("service")
        if header is not None and header.startswith("Bearer ") and needed == wanted:
            # The token we sent covered every scope asked for and was still refused.
            if challenge.params.get("error") == "insufficient_scope":
                raise self._denied(needed)
            self._forget(wanted)  # expired or revoked: fetch a new one, once
        token = yield from self._fetch_token(needed)
        reply = yield request.with_auth(f"Bearer {token}")
        if reply.status == 401:
            raise self._denied(needed)

    def _known_header(self, scopes: tuple[str, ...]) -> Generator[Request, Reply, str | None]:
        with self._lock:
            scheme = self.scheme
        if scheme == "basic":
            creds = self.credentials()
            return creds.basic_header() if creds else None
        if scheme == "bearer":
            token = self._cached(scopes)
            if token is None:
                token = yield from self._fetch_token(scopes)
            return f"Bearer {token}"
        return None

    def _cached(self, scopes: tuple[str, ...]) -> str | None:
        with self._lock:
            entry = self._tokens.get(scopes)
            if entry and entry[1] > self._clock():
                return entry[0]
        return None

    def _forget(self, scopes: tuple[str, ...]) -> None:
        with self._lock:
            self._tokens.pop(scopes, None)

    def _fetch_token(self, scopes: tuple[str, ...]) -> Generator[Request, Reply, str]:
        with self._lock:
            realm, service = self._realm, self._service
        assert realm is not None
        query = ([("service", service)] if service else []) + [("scope", s) for s in scopes]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        creds = self.credentials()
        headers = {"Authorization": creds.basic_header()} if creds else {}
        reply = yield Request("GET", url, headers, kind="token")
        if reply.status in (401, 403):
            if creds is None:
                raise AuthError(f"{self.host} requires a login", status=401, hint=self._login_hint())
            raise self._refused(creds)
        if reply.status != 200:
            raise RegistryError(f"the token service of {self.host} answered {reply.status}", status=reply.status,
                                hint="try again later; if it persists, the registry's auth service is down")
        try:
            obj = untrusted_json.loads(reply.body, max_bytes=1 << 20, what="token response", error=AuthError)
            token = obj.get("token") or obj.get("access_token")
            lifetime = obj.get("expires_in") or MIN_TOKEN_LIFETIME
        except (ValueError, AttributeError):
            token, lifetime = None, 0
        if not isinstance(token, str) or not token or not isinstance(lifetime, (int, float)):
            raise RegistryError(f"the token service of {self.host} sent an answer without a token")
        lifetime = max(float(lifetime), MIN_TOKEN_LIFETIME)
        with self._lock:
            self._tokens[scopes] = (token, self._clock() + lifetime - TOKEN_MARGIN)
        return token

    def _refused(self, creds: Credentials) -> AuthError:
        return AuthError(f"{self.host} refused the credentials of user {creds.username!r}", status=401,
                         hint=f"check the username and password; {self._login_hint()}")

    def _denied(self, scopes: tuple[str, ...]) -> AuthError:
        what = " and ".join(_describe(s) for s in scopes) or "this request"
        login = "" if self.credentials() else f"; {self._login_hint()}"
        return AuthError(f"{self.host} denied access: {what}", status=401,
                         hint=f"the account lacks this permission{login}")


def check_realm(registry: str, registry_scheme: str, realm: str) -> None:
    """Refuse a token realm that would carry the credentials somewhere less protected than the registry.

    The realm is named by whatever answered as the registry, so it is untrusted: an HTTPS registry's realm
    must be HTTPS (no downgrade), and a plain-HTTP realm is accepted only for a plain-HTTP registry on the
    same host, or on loopback for a loopback registry (a local test set-up), never across the network.
    """
    parts = urlsplit(realm)
    if parts.scheme == "https":
        return
    realm_host = (parts.hostname or "").lower()
    host, _port = split_host(registry)
    same_host = realm_host == host.lower().strip("[]")
    if registry_scheme == "http" and (same_host or (is_loopback(host) and is_loopback(realm_host))):
        return
    why = ("the registry uses HTTPS but its token service is plain HTTP" if registry_scheme == "https"
           else "a plain-HTTP token service on another host")
    raise AuthError(f"{registry} names the token service {parts.scheme}://{parts.netloc.rpartition('@')[2]}"
                    f"{parts.path}: refused, {why} would receive the credentials in clear", status=401,
                    hint="the registry's auth configuration must name an https:// realm")


def _describe(scope: str) -> str:
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return f"{actions.replace(',', '+')} on {name}" if kind == "repository" else scope
