"""Listings a hostile server shapes: ``Link`` pagination that never ends (or loops), and tag lists far
larger than any repository has. Each listing is bounded (pages, bytes, entries) and a loop is detected."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from modelcrate.content.remote import RegistryClient, RemoteSettings
from modelcrate.content.remote.listing import NAME_LIMITS, REFERRER_LIMITS
from modelcrate.errors import RegistryError
from modelcrate.format.descriptor import Descriptor, build_index
from modelcrate.format.mediatypes import OCI_INDEX, OCI_MANIFEST
from tests.transport.conftest import FAST_RETRY
from tests.transport.scripted import Scripted, servers  # noqa: F401  (servers is a fixture)

SUBJECT = Descriptor(OCI_MANIFEST, "sha256:" + "a" * 64, 100)
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
GIVE_UP = 300  # the hostile server stops linking here, so an unbounded client ends too (and fails the test)


def _client(server: Scripted) -> RegistryClient:
    return RegistryClient(server.host, RemoteSettings(retry=FAST_RETRY))


def _page_number(req: BaseHTTPRequestHandler) -> int:
    return int(req.path.partition("p=")[2] or 0)


def test_referrers_pagination_between_two_pages_is_bounded(servers: tuple[Scripted, Scripted]) -> None:
    registry, _ = servers
    pages = [build_index([Descriptor(OCI_MANIFEST, "sha256:" + c * 64, 10, artifact_type=BUNDLE)]) for c in "bc"]

    def route(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        n = _page_number(req)
        headers = {"Content-Type": OCI_INDEX}
        if n < GIVE_UP:  # the same two pages for ever, under ever new URLs
            headers["Link"] = f'</v2/m/referrers/{SUBJECT.digest}?p={n + 1}>; rel="next"'
        return 200, headers, pages[n % 2]

    registry.routes[f"/v2/m/referrers/{SUBJECT.digest}"] = route
    found = _client(registry).repository("m").referrers_api(SUBJECT)
    assert found is not None and {d.digest[7] for d in found} == {"b", "c"}
    assert len(registry.seen) <= REFERRER_LIMITS.pages


def test_referrers_link_back_to_the_first_page_ends_the_listing(servers: tuple[Scripted, Scripted]) -> None:
    registry, _ = servers
    page = build_index([Descriptor(OCI_MANIFEST, "sha256:" + "b" * 64, 10, artifact_type=BUNDLE)])
    registry.routes[f"/v2/m/referrers/{SUBJECT.digest}"] = lambda req: (
        200, {"Content-Type": OCI_INDEX, "Link": f'</v2/m/referrers/{SUBJECT.digest}>; rel="next"'}, page)
    assert len(_client(registry).repository("m").referrers_api(SUBJECT) or []) == 1
    assert len(registry.seen) == 1


def test_tags_over_the_entry_limit_are_refused(servers: tuple[Scripted, Scripted]) -> None:
    registry, _ = servers
    per_page = 50_000

    def route(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        n = _page_number(req)
        headers = {"Content-Type": "application/json"}
        if n < 20:
            headers["Link"] = f'</v2/m/tags/list?p={n + 1}>; rel="next"'
        names = [f"t{n}-{i}" for i in range(per_page)]
        return 200, headers, json.dumps({"name": "m", "tags": names}).encode()

    registry.routes["/v2/m/tags/list"] = route
    with pytest.raises(RegistryError, match=f"more than {NAME_LIMITS.entries} entries"):
        _client(registry).repository("m").tags()
    assert len(registry.seen) <= NAME_LIMITS.entries // per_page + 1


def test_a_tags_link_loop_is_an_error_not_a_short_list(servers: tuple[Scripted, Scripted]) -> None:
    registry, _ = servers

    def route(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        n = _page_number(req)
        return 200, {"Content-Type": "application/json", "Link": f'</v2/m/tags/list?p={1 - n}>; rel="next"'}, \
            json.dumps({"name": "m", "tags": [f"t{n}"]}).encode()

    registry.routes["/v2/m/tags/list"] = route
    with pytest.raises(RegistryError, match="Link loop"):
        _client(registry).repository("m").tags()


def test_catalog_is_streamed_page_by_page(servers: tuple[Scripted, Scripted]) -> None:
    from modelcrate.content.remote.listing import iter_repository_names

    registry, _ = servers

    def route(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        n = _page_number(req)
        headers = {"Content-Type": "application/json"}
        if n < 2:
            headers["Link"] = f'</v2/_catalog?n=1000&p={n + 1}>; rel="next"'
        return 200, headers, json.dumps({"repositories": [f"r{n}"]}).encode()

    registry.routes["/v2/_catalog"] = route
    names = iter_repository_names(_client(registry))
    assert next(names) == "r0" and len(registry.seen) == 1  # the first name before the second page
    assert list(names) == ["r1", "r2"]
