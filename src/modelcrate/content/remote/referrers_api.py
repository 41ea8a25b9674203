"""The OCI 1.1 referrers API: whether a registry has it, and its listing of a subject's referrers.

Whether the API exists is a property of the registry software, so it is held once per registry in a
three-state :class:`ReferrersCapability` (unknown, supported, unsupported) that is set once by
compare-and-set (oras-go's ``referrersState``): the first answer that settles it wins and nothing flips
it later. Writers ask :func:`has_referrers_api`, which costs one small probe (the empty-digest listing,
as oras-go pings) the first time and nothing after; readers call :func:`list_referrers`, whose answers
settle the state too. Registry 2.8.2 answers a plain-text 404: no API, use the tag-schema fallback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...errors import InvalidManifest, RegistryError
from ...format.descriptor import Descriptor, parse_index
from ...format.mediatypes import OCI_INDEX
from .http import Response, error_detail
from .listing import LIST_LIMIT, REFERRER_LIMITS, Pager

if TYPE_CHECKING:
    from .repository import RegistryTarget

# A digest no manifest has: asking for its referrers shows whether the API exists and returns nothing.
PROBE_DIGEST = "sha256:" + "0" * 64
_UNKNOWN_CODES = ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")
_NO_API_STATUSES = (400, 405, 501)


class ReferrersCapability:
    """Unknown (``supported is None``) until an answer settles it; then fixed for good."""

    def __init__(self) -> None:
        self._state: bool | None = None
        self._lock = threading.Lock()
        self._probing = threading.Lock()

    @property
    def supported(self) -> bool | None:
        return self._state

    def settle(self, supported: bool) -> bool:
        """Record the answer if none is recorded yet (compare-and-set); return the state now held."""
        with self._lock:
            if self._state is None:
                self._state = supported
            return self._state

    def known_after(self, probe: Callable[[], object]) -> bool:
        """True if the API is supported, running ``probe`` first while that is unknown. One probe runs at
        a time; callers waiting for it use its answer instead of probing again."""
        if self._state is None:
            with self._probing:
                if self._state is None:
                    probe()
        return self._state is True


def has_referrers_api(target: RegistryTarget) -> bool:
    """Whether ``target``'s registry has the referrers API; probed once per registry.

    An answer that settles nothing (404 ``NAME_UNKNOWN``: the repository does not exist yet) counts as
    "no": writing the tag-schema fallback index as well is never wrong, only extra work."""
    def probe() -> None:
        url = target.url("referrers", PROBE_DIGEST)
        with target.request("GET", url, headers={"Accept": OCI_INDEX}, idempotent=True) as resp:
            _entries(target, resp, f"probe the referrers API of {target.client.registry}")

    return target.client.referrers_capability.known_after(probe)


def list_referrers(target: RegistryTarget, desc: Descriptor) -> list[Descriptor] | None:
    """The referrers API's listing of ``desc`` (every page), or None where the registry has no such API."""
    if target.client.referrers_capability.supported is False:
        return None
    what = f"list referrers of {desc.digest} in {target.name}"
    pager = Pager(target.client, target.url("referrers", desc.digest), REFERRER_LIMITS, what, strict=False)
    out: list[Descriptor] = []
    nxt: str | None = pager.url
    while nxt is not None:
        with target.request("GET", nxt, headers={"Accept": OCI_INDEX}, idempotent=True) as resp:
            entries = _entries(target, resp, what, pager)
            nxt = pager.follow(resp)
        if entries is None:
            return None
        out.extend(entries[:pager.count(len(entries))])
        if pager.entries >= REFERRER_LIMITS.entries:
            return out
    return out


def _entries(target: RegistryTarget, resp: Response, what: str, pager: Pager | None = None
             ) -> list[Descriptor] | None:
    """One answer of the API: its entries, [] where the API exists but has nothing here, None where the
    registry has no API. Settles the registry's capability whenever the answer tells."""
    capability = target.client.referrers_capability
    if resp.status == 200:
        ctype = (resp.header("Content-Type") or "").split(";")[0].strip()
        raw = pager.read(resp) if pager is not None else resp.read(LIST_LIMIT)
        if ctype not in ("", OCI_INDEX, "application/json"):
            capability.settle(False)
            return None
        try:
            entries = list(parse_index(raw).manifests)
        except InvalidManifest:
            if capability.supported is None:  # not the API talking: something else answers that path
                capability.settle(False)
                return None
            raise
        capability.settle(True)
        return entries
    if resp.status == 404:
        try:
            codes, _detail = error_detail(resp.read(64 * 1024))
        except RegistryError:
            codes = []
        if any(code in codes for code in _UNKNOWN_CODES):
            return []  # the API exists; this repository or subject has nothing
        capability.settle(False)
        return None
    if resp.status in _NO_API_STATUSES:
        resp.drain()
        capability.settle(False)
        return None
    raise target.client.error(resp, what)
