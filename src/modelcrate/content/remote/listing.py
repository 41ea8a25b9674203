"""Registry lists read page by page: the catalog, a repository's tags, and the ``Link`` rule they (and
the referrers API) share. Lists are read into memory, so each page is capped and so is the page count."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ...errors import NotFound, RegistryError
from ...format import untrusted_json
from .http import Response
from .settings import MiB

if TYPE_CHECKING:
    from .client import RegistryClient

LIST_LIMIT = 16 * MiB  # bytes of one tag list, catalog or referrers page
MAX_PAGES = 10_000


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


def next_page(client: RegistryClient, url: str, resp: Response, seen: set[str]) -> str | None:
    """The absolute URL of the page after ``url`` that ``resp`` links to; None at the end, on a loop
    (a URL already in ``seen``), or when the link leaves this registry (credentials stay home)."""
    nxt = next_link(resp.header_all("Link"))
    if nxt is None:
        return None
    url = urljoin(url, nxt)
    return None if url in seen or not client.http.serves(url) else url


def pages(client: RegistryClient, url: str, scopes: Sequence[str], what: str, accept: str = "application/json"
          ) -> Iterator[dict[str, Any]]:
    """Each JSON page of a paginated list, starting at ``url``."""
    seen: set[str] = set()
    for _page in range(MAX_PAGES):
        seen.add(url)
        with client.request("GET", url, scopes=scopes, headers={"Accept": accept}, idempotent=True) as resp:
            if resp.status != 200:
                raise client.error(resp, what)
            try:
                obj = untrusted_json.loads(resp.read(LIST_LIMIT), max_bytes=LIST_LIMIT, what=what, error=RegistryError)
            except (ValueError, UnicodeDecodeError):
                raise RegistryError(f"{what}: {client.registry} sent something that is not JSON") from None
            if not isinstance(obj, dict):
                raise RegistryError(f"{what}: {client.registry} sent an unexpected answer")
            nxt = next_page(client, url, resp, seen)
        yield obj
        if nxt is None:
            return
        url = nxt
    raise RegistryError(f"{what}: more than {MAX_PAGES} pages")


def repository_names(client: RegistryClient) -> list[str]:
    """Every repository name the registry lists (``GET /v2/_catalog``, following ``Link``), sorted."""
    names: set[str] = set()
    for obj in pages(client, client.url("/v2/_catalog?n=1000"), ("registry:catalog:*",), "list the catalog"):
        repos = obj.get("repositories")
        names.update(r for r in (repos or []) if isinstance(r, str))
    return sorted(names)


def tag_names(client: RegistryClient, repository: str, scopes: Sequence[str]) -> list[str]:
    """All tags of ``repository``, sorted (registry 2.8.2 ignores ``n``/``last``, may answer
    ``"tags": null``, and does not sort; other registries paginate with ``Link``)."""
    name = f"{client.registry}/{repository}"
    found: set[str] = set()
    try:
        for obj in pages(client, client.url(f"/v2/{repository}/tags/list"), scopes, f"list the tags of {name}"):
            found.update(t for t in (obj.get("tags") or []) if isinstance(t, str))
    except NotFound:
        raise NotFound(f"repository {name} not found") from None
    return sorted(found)
