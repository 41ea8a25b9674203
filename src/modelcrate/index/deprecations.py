"""Which indexed models are deprecated: their signed lifecycle records, found through the referrers listing.

Deprecation and retirement records are signed referrers of the model (:mod:`..lifecycle.deprecation`).
The index counts them under the rules ``status`` uses: a record counts only when its bundle verifies
under the verifier given (keys, or every signer a policy names) and its statement is about this digest
with the deprecation predicate type; the newest retirement, else the newest deprecation, decides. It
fails closed: a record that does not verify, is malformed, is over the reading budget, or that nobody
was named to verify deprecates nothing and is reported as skipped.

Cost, on a registry without the referrers API (registry:2): a model's referrers live behind the
``sha256-<hex>`` tag, which is in the tag list a refresh reads anyway, so a model without referrers
costs nothing. For one with referrers the first refresh GETs the listing (one request) and opens the
entries labelled as deprecations (a GET of the manifest and one of the bundle each); later refreshes
send one HEAD of the tag. Writing a record rewrites the listing, so its digest changes: only then is
the listing read again, and only entries not seen before cost anything. The answer is kept per
verifier: naming other keys reads the records again. A registry with the referrers API is asked once
per model and refresh (``GET /v2/NAME/referrers/DIGEST``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..content.referrers import Candidate, fallback_tag
from ..content.target import ReferrersAPI, Target, resolve_tag
from ..content.verify import read_all
from ..errors import DigestMismatch, InvalidManifest, ModelcrateError, NotFound, SizeMismatch
from ..format import digest as _digest
from ..format.descriptor import Descriptor, parse_index
from ..format.mediatypes import INDEX_TYPES, MAX_MANIFEST_BYTES, OCI_MANIFEST
from ..lifecycle.deprecation import decisive, well_formed
from ..lifecycle.records import DEPRECATION_V1
from ..signatures import ANN_PREDICATE_TYPE, BUNDLE_MEDIA_TYPE, Budget, Verifier
from ..signatures.records import collect_listed
from .db import DeprecationCheck

# Deprecation records per model are few: a listing claiming more is read only this far.
BUDGET = Budget(referrers=16, bytes=4 * 1024 * 1024)
MAX_SKIPPED = 8  # lines kept per model about records not counted


def _claims_deprecation(candidate: Candidate) -> bool:
    d = candidate.descriptor
    if d.artifact_type not in (None, BUNDLE_MEDIA_TYPE):
        return False
    return (d.annotations or {}).get(ANN_PREDICATE_TYPE) in (None, DEPRECATION_V1)


class SignedDeprecations:
    """The reader the index uses: lifecycle records, verified by ``verifier`` (None: nobody is trusted,
    so every deprecation record is skipped, and the models count as not deprecated)."""

    def __init__(self, verifier: Verifier | None = None, budget: Budget = BUDGET) -> None:
        self.verifier = verifier
        self.budget = budget
        self.key = verifier.description if verifier is not None else ""

    def __call__(self, target: Target, subject: Descriptor, listed: Sequence[Candidate]) -> tuple[str | None,
                                                                                                  list[str]]:
        """(the deprecation summary or None, lines about records not counted) for ``subject``."""
        wanted = [c for c in listed if _claims_deprecation(c)]
        if self.verifier is None:
            claimed = sum(1 for c in wanted if (c.descriptor.annotations or {}).get(ANN_PREDICATE_TYPE))
            return None, ([f"{claimed} deprecation record(s) not verified: no key or policy to verify them with"]
                          if claimed else [])
        collected = collect_listed(target, subject, self.verifier, DEPRECATION_V1, wanted, [], self.budget)
        found, malformed = well_formed(collected.records)
        chosen = decisive(found)
        notes = [f"deprecation record {line}" for line in collected.rejected] + collected.skipped + malformed
        return (chosen.summary if chosen else None), notes


def check(target: Target, digest: str, prior: DeprecationCheck | None, reader: SignedDeprecations, *,
          api: bool = False) -> DeprecationCheck | None:
    """The deprecation state of the model ``digest`` in ``target``; ``prior`` is what the index holds
    (reused when the listing and the trusted signers are the same). None: the model has no referrers.
    Never raises for what the registry holds or fails to answer: an unreadable listing is a skipped line."""
    try:
        return _check(target, digest, prior, reader, api)
    except ModelcrateError as exc:  # the registry failed mid-way: nothing is counted, it is said, and
        # the listing name is not kept, so the next refresh reads it again
        return DeprecationCheck("", reader.key, None, (f"deprecation records not read: {exc}",))


def _check(target: Target, digest: str, prior: DeprecationCheck | None, reader: SignedDeprecations,
           api: bool) -> DeprecationCheck | None:
    subject = Descriptor(OCI_MANIFEST, digest, 0)  # the records bind the digest; the size is not checked
    if api and isinstance(target, ReferrersAPI):
        entries = target.referrers_api(subject) or []
        if not entries:
            return None
        name = _digest.of(json.dumps([e.to_dict() for e in entries], sort_keys=True).encode())
        if prior is not None and (prior.listing, prior.trusted) == (name, reader.key):
            return prior
        return _decide(target, subject, name, [Candidate(e) for e in entries], reader)
    tag = fallback_tag(digest)
    # Known before: a HEAD tells whether it changed. New: a GET that brings the index along.
    try:
        desc = resolve_tag(target, tag, fetching=prior is None)
    except NotFound:
        return None
    if prior is not None and (prior.listing, prior.trusted) == (desc.digest, reader.key):
        return prior
    try:
        if desc.media_type not in INDEX_TYPES:
            raise InvalidManifest(f"it holds a {desc.media_type}, not an index")
        with target.fetch(desc) as stream:
            entries = parse_index(read_all(stream, desc, MAX_MANIFEST_BYTES)).manifests
    except (InvalidManifest, DigestMismatch, SizeMismatch, NotFound) as exc:
        return DeprecationCheck(desc.digest, reader.key, None, (f"ignored the referrers tag {tag}: {exc}",))
    return _decide(target, subject, desc.digest, [Candidate(e) for e in entries], reader)


def _decide(target: Target, subject: Descriptor, name: str, listed: list[Candidate],
            reader: SignedDeprecations) -> DeprecationCheck:
    reason, skipped = reader(target, subject, listed)
    if len(skipped) > MAX_SKIPPED:
        skipped = [*skipped[:MAX_SKIPPED], f"and {len(skipped) - MAX_SKIPPED} more"]
    return DeprecationCheck(name, reader.key, reason, tuple(skipped))
