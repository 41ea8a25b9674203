"""Signed records: an in-toto statement about a subject, signed into a Sigstore bundle, stored as its referrer.

Signatures, attestations and (next) approvals, promotions and deprecations are all records; they differ
only in predicate type and predicate. :func:`attach_record` writes one; :func:`collect_records` is the one
path that finds and verifies them (:func:`parsed_records` also parses their predicates).

Referrers are untrusted: anyone with write access to the repository can list thousands of them or make
an index entry point at nothing. So collecting is bounded. Candidates are chosen from what the listing
says (artifact type, ``dev.sigstore.bundle.predicateType`` annotation) before anything is opened;
digests are de-duplicated; at most ``Budget.referrers`` manifests and ``Budget.bytes`` bytes are read;
what was passed over is reported in :attr:`Collected.skipped`, not raised. Only a verified statement
decides what is accepted, so a listing can hide a record (as deleting it could) but never forge one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from ..content import referrers as _referrers
from ..content.referrers import Candidate, Referrer
from ..content.target import Target
from ..errors import InvalidManifest, ModelcrateError, SignatureError
from ..format import digest as _digest
from ..format.descriptor import Descriptor
from ..format.mediatypes import ANN_CREATED
from ..signing import statement as _statement
from .bundles import (
    ANN_PREDICATE_TYPE,
    KNOWN_BUNDLE_TYPES,
    SIGNATURE_TYPE,
    bundle_of,
    bundle_title,
    claimed_type,
    is_bundle,
    short,
    store_bundle,
)
from .results import Stored
from .signers import Signer
from .verifiers import Verifier

T = TypeVar("T")


@dataclass(frozen=True)
class Budget:
    """How much untrusted referrer content one collection may read."""

    referrers: int = 256  # referrer manifests opened
    bytes: int = 64 * 1024 * 1024  # manifest and bundle bytes read, by their declared sizes


DEFAULT_BUDGET = Budget()


@dataclass(frozen=True)
class Record:
    """One verified record. Everything but ``descriptor`` and ``created`` comes from the verified bundle."""

    descriptor: Descriptor  # the referrer manifest holding the bundle
    predicate_type: str
    predicate: dict[str, Any]  # from the VERIFIED statement (never from annotations)
    statement: _statement.Statement = field(repr=False, compare=False)
    signer: str  # identity the verifier matched
    bundle_digest: str  # digest of the bundle blob (evidence digest)
    created: str | None = None  # the referrer's creation annotation: claimed, for display and ordering
    signed_name: str | None = None  # the statement subject's name for this digest


@dataclass(frozen=True)
class Collected:
    """The outcome of :func:`collect_records`."""

    records: list[Record]  # verified, subject == the model digest, sorted by (time, digest)
    rejected: list[str]  # one line per candidate that did not verify (reason), for diagnostics
    skipped: list[str]  # malformed/dangling/over-budget entries ignored
    checked: int = 0  # candidates of the wanted type that were verified (passed or rejected)


def attach_record(target: Target, subject: Descriptor, name: str, signer: Signer, predicate_type: str,
                  predicate: Mapping[str, Any], *, created: datetime) -> Stored:
    """Sign an in-toto statement (subject: ``name`` + subject digest) and attach it as a referrer of ``subject``.

    The referrer's artifactType is the bundle media type and its ``dev.sigstore.bundle.predicateType``
    annotation is ``predicate_type``, so readers can select it without opening it.
    """
    uri = _statement.predicate_type_uri(predicate_type)
    statement = _statement.build_statement([(name, {"sha256": _digest.hex_of(subject.digest)})], uri, predicate)
    data = signer.sign_statement(statement)
    kind = "signature" if uri == SIGNATURE_TYPE else "attestation"
    return Stored(kind, store_bundle(target, subject, data, uri, created, bundle_title(subject)), uri)


def collect_records(target: Target, subject: Descriptor, name: str, verifier: Verifier, *, predicate_type: str,
                    budget: Budget = DEFAULT_BUDGET) -> Collected:
    """Every referrer of ``subject`` whose bundle verifies under ``verifier`` and whose statement names
    ``subject.digest`` with ``predicate_type``. ``name`` is for messages only: the digest is the binding.

    Bounded work (see the module docstring); never raises for what a referrer holds.
    """
    listed, notes = _referrers.candidates(target, subject)
    return collect_listed(target, subject, verifier, _statement.predicate_type_uri(predicate_type),
                          [c for c in listed if not c.legacy], notes, budget)


def parsed_records(target: Target, subject: Descriptor, name: str, verifier: Verifier, *, predicate_type: str,
                   parse: Callable[[dict[str, Any]], T]) -> list[tuple[Record, T]]:
    """Every verified record of ``predicate_type`` (as :func:`collect_records`) with its predicate parsed by
    ``parse``. A record whose predicate does not parse is left out: signed by an accepted key but
    malformed, it says nothing."""
    out = []
    for r in collect_records(target, subject, name, verifier, predicate_type=predicate_type).records:
        try:
            out.append((r, parse(r.predicate)))
        except ModelcrateError:
            continue
    return out


class _Spend:
    """What has been read so far against a :class:`Budget`; notes what it refuses."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.opened = 0
        self.bytes = 0
        self.refused = 0

    def allow(self, size: int) -> bool:
        """May one more referrer manifest of ``size`` bytes be opened?"""
        if self.opened >= self.budget.referrers or self.bytes + size > self.budget.bytes:
            self.refused += 1
            return False
        self.opened += 1
        self.bytes += size
        return True

    def allow_bytes(self, size: int) -> bool:
        """May ``size`` more bytes (an opened referrer's bundle) be read?"""
        if self.bytes + size > self.budget.bytes:
            self.refused += 1
            return False
        self.bytes += size
        return True

    def note(self) -> list[str]:
        if not self.refused:
            return []
        return [f"{self.refused} candidate referrer(s) not opened: over the budget of {self.budget.referrers} "
                f"referrers / {self.budget.bytes} bytes"]


def select(listed: Sequence[Candidate], predicate_type: str) -> tuple[list[Candidate], list[Candidate]]:
    """(first, fallback): the listed referrers worth opening for ``predicate_type``, judged by what the
    listing claims, before anything is opened.

    Another artifact type is never opened (it could only fail). ``first`` holds the entries labelled with
    ``predicate_type`` and then the unlabelled ones (older writers listed no annotations); ``fallback``
    the bundles labelled with another type, opened only when nothing in ``first`` verifies, so a
    mislabelled record is still found without a flood of other records costing anything otherwise.
    """
    exact, unlabelled, other = [], [], []
    for candidate in listed:
        d = candidate.descriptor
        if d.artifact_type is not None and d.artifact_type not in KNOWN_BUNDLE_TYPES:
            continue
        claimed = (d.annotations or {}).get(ANN_PREDICATE_TYPE)
        (exact if claimed == predicate_type else unlabelled if claimed is None else other).append(candidate)
    return exact + unlabelled, other


def collect_listed(target: Target, subject: Descriptor, verifier: Verifier, predicate_type: str,
                   listed: Sequence[Candidate], notes: Sequence[str], budget: Budget) -> Collected:
    """:func:`collect_records` over an already made listing (so a caller that also reads cosign's tag
    lists once)."""
    spend = _Spend(budget)
    records: list[Record] = []
    rejected: list[str] = []
    skipped = list(notes)
    checked = 0
    for group in select(listed, predicate_type):
        if records:
            break
        for candidate in group:
            outcome = _open_and_check(target, candidate, subject, verifier, predicate_type, spend, skipped)
            if outcome is None:
                continue
            checked += 1
            if isinstance(outcome, Record):
                records.append(outcome)
            else:
                rejected.append(f"{short(candidate.descriptor.digest)}: {outcome}")
    records.sort(key=lambda r: (_record_time(r), r.descriptor.digest))
    return Collected(records, rejected, skipped + spend.note(), checked)


def _open_and_check(target: Target, candidate: Candidate, subject: Descriptor, verifier: Verifier,
                    predicate_type: str, spend: _Spend, skipped: list[str]) -> Record | str | None:
    if not spend.allow(candidate.descriptor.size):
        return None
    try:
        referrer = _referrers.open_candidate(target, candidate, subject)
    except InvalidManifest as exc:
        skipped.append(str(exc))
        return None
    if not is_bundle(referrer) or not spend.allow_bytes(_bundle_size(referrer)):
        return None
    return _check(target, referrer, subject, verifier, predicate_type)


def _bundle_size(referrer: Referrer) -> int:
    return sum(layer.size for layer in referrer.manifest.layers)


def _check(target: Target, referrer: Referrer, subject: Descriptor, verifier: Verifier,
           predicate_type: str) -> Record | str | None:
    """A Record, the reason it was rejected, or None when it is of another type by every claim."""
    annotated = referrer.annotations.get(ANN_PREDICATE_TYPE)
    try:
        data = bundle_of(target, referrer)
    except SignatureError as exc:
        return str(exc) if annotated == predicate_type else None
    if claimed_type(data, referrer) != predicate_type and annotated != predicate_type:
        return None  # of another kind by every claim: checking it could only fail
    try:
        # (1) the signature, under the caller's policy; (2) what was signed: this digest, this type.
        signed, signer = verifier.verify_bundle(data)
        statement = _statement.check_statement(signed, digest=subject.digest, predicate_type=predicate_type)
    except SignatureError as exc:
        return str(exc)
    return Record(referrer.descriptor, predicate_type, dict(statement.predicate or {}), statement, signer,
                  referrer.manifest.layers[0].digest, referrer.annotations.get(ANN_CREATED),
                  signed_name(statement, subject.digest))


def signed_name(statement: _statement.Statement, digest: str) -> str | None:
    """The name the statement gives the subject with ``digest``."""
    hexd = _digest.hex_of(digest)
    return next((s.name for s in statement.subjects if s.digest.get("sha256") == hexd), None)


def signed_time(record: Record) -> str | None:
    """The time the verified predicate itself states (signed), if it states one."""
    for key in ("timestamp", "created", "time"):
        value = record.predicate.get(key)
        if isinstance(value, str):
            return value
    return None


def _record_time(record: Record) -> str:
    """The signed time where there is one, else the referrer's (unsigned) creation annotation."""
    return signed_time(record) or record.created or ""

