"""Registry lists read page by page: the catalog, a repository's tags, and the ``Link`` rule they (and
the referrers API) share. Every listing is bounded (pages, bytes, entries) and a ``Link`` loop is detected."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ...errors import NotFound, RegistryError
from ...format import untrusted_json
from .http import Response
from .settings import MiB

if TYPE_CHECKING:
    from .client import RegistryClient

LIST_LIMIT = 16 * MiB  # bytes of one tag list, catalog or referrers page


@dataclass(frozen=True)
class ListLimits:
    """Bounds on one paginated listing, which the registry (or anyone answering in its name) shapes."""

    pages: int
    bytes: int  # body bytes over all pages
    entries: int  # names or descriptors kept


# Tag lists are kept (to be sorted): at most 250,000 names out of at most 128 MiB of pages.
NAME_LIMITS = ListLimits(pages=10_000, bytes=128 * MiB, entries=250_000)
# Referrers are hints for a bounded verification (signatures/records.py opens at most 256 of them).
REFERRER_LIMITS = ListLimits(pages=64, bytes=32 * MiB, entries=10_000)


class Pager:
    """Follows ``Link: <...>; rel="next"`` from ``url`` within ``limits``; a link back to a page already
    read is a loop. ``strict`` raises on a loop or an exceeded limit; otherwise the listing just ends
    there (for referrers, which are hints: a cut listing can hide a record, never forge one)."""

    def __init__(self, client: RegistryClient, url: str, limits: ListLimits, what: str, *, strict: bool) -> None:
        self.client, self.url, self.limits, self.what, self.strict = client, url, limits, what, strict
        self.seen: set[str] = set()
        self.bytes = 0
        self.entries = 0

    def read(self, resp: Response) -> bytes:
        """One page's body, within what is left of the byte budget."""
        left = self.limits.bytes - self.bytes
        data = resp.read(max(0, min(LIST_LIMIT, left)))
        self.bytes += len(data)
        return data

    def count(self, n: int) -> int:
        """Record ``n`` more entries; how many of them fit under the entry limit."""
        fit = max(0, min(n, self.limits.entries - self.entries))
        self.entries += fit
        if fit < n:
            self._over(f"more than {self.limits.entries} entries")
        return fit

    def follow(self, resp: Response) -> str | None:
        """The next page's URL (and remember this one), or None at the end."""
        self.seen.add(self.url)
        nxt = next_link(resp.header_all("Link"))
        if nxt is None:
            return None
        url = urljoin(self.url, nxt)
        if not self.client.http.serves(url):
            return None  # the link leaves this registry: credentials stay home
        if url in self.seen:
            return self._over("a Link loop (a page links back to an earlier one)")
        if len(self.seen) >= self.limits.pages:
            return self._over(f"more than {self.limits.pages} pages")
        if self.bytes >= self.limits.bytes:
            return self._over(f"more than {self.limits.bytes} bytes")
        self.url = url
        return url

    def _over(self, what: str) -> None:
        if self.strict:
            raise RegistryError(f"{self.what}: {self.client.registry} sent {what}; listing stopped",
                                hint="the registry's listing is broken or hostile")
        return None


def next_link(values: list[str]) -> str | None:
    """The ``rel="next"`` target of ``Link`` headers (RFC 8288): ``</v2/x/tags/list?last=a>; rel="next"``."""
    for value in values:
        for link in value.split(","):
            target, *params = (p.strip() for p in link.split(";"))
            if not (target.startswith("<") and target.endswith(">")):
                continue
            for param in params:
                name, _, rel = param.partition("=")
                if name.strip().lower() == "rel" and "next" in rel.strip().strip('"').lower().split():
                    return target[1:-1]
    return None


def pages(client: RegistryClient, url: str, scopes: Sequence[str], what: str, accept: str = "application/json"
          ) -> Iterator[tuple[Pager, dict[str, Any]]]:
    """Each JSON page of a paginated list of names, starting at ``url``, within :data:`NAME_LIMITS`."""
    pager = Pager(client, url, NAME_LIMITS, what, strict=True)
    nxt: str | None = url
    while nxt is not None:
        with client.request("GET", nxt, scopes=scopes, headers={"Accept": accept}, idempotent=True) as resp:
            if resp.status != 200:
                raise client.error(resp, what)
            body = pager.read(resp)
            try:
                obj = untrusted_json.loads(body, max_bytes=LIST_LIMIT, what=what, error=RegistryError)
            except (ValueError, UnicodeDecodeError):
                if pager.bytes >= NAME_LIMITS.bytes:
                    raise RegistryError(f"{what}: {client.registry} sent more than {NAME_LIMITS.bytes} bytes; "
                                        "listing stopped") from None
                raise RegistryError(f"{what}: {client.registry} sent something that is not JSON") from None
            if not isinstance(obj, dict):
                raise RegistryError(f"{what}: {client.registry} sent an unexpected answer")
            nxt = pager.follow(resp)
        yield pager, obj


def _names(pager: Pager, values: Any) -> list[str]:
    names = [v for v in (values or []) if isinstance(v, str)] if isinstance(values, list) else []
    return names[:pager.count(len(names))]


def iter_repository_names(client: RegistryClient) -> Iterator[str]:
    """Repository names as the registry lists them (``GET /v2/_catalog``, following ``Link``), page by
    page, so a caller can print them without holding the catalog."""
    for pager, obj in pages(client, client.url("/v2/_catalog?n=1000"), ("registry:catalog:*",), "list the catalog"):
        yield from _names(pager, obj.get("repositories"))


def repository_names(client: RegistryClient) -> list[str]:
    """Every repository name the registry lists (``GET /v2/_catalog``, following ``Link``), sorted."""
    return sorted(set(iter_repository_names(client)))


def tag_names(client: RegistryClient, repository: str, scopes: Sequence[str]) -> list[str]:
    """All tags of ``repository``, sorted (registry 2.8.2 ignores ``n``/``last``, may answer
    ``"tags": null``, and does not sort; other registries paginate with ``Link``)."""
    name = f"{client.registry}/{repository}"
    found: set[str] = set()
    try:
        for pager, obj in pages(client, client.url(f"/v2/{repository}/tags/list"), scopes,
                                f"list the tags of {name}"):
            found.update(_names(pager, obj.get("tags")))
    except NotFound:
        raise NotFound(f"repository {name} not found") from None
    return sorted(found)
