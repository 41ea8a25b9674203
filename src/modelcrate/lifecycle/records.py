"""Lifecycle records as bytes: promotion, deprecation and tag-overwrite predicates, history entries, empty-stage markers.

Pure: every time, digest and identity comes in as an argument; the results are plain dicts (predicates,
which :func:`modelcrate.signing.statement.build_statement` serialises canonically) or exact manifest bytes.
Parsers take untrusted values and raise :class:`RecordError` naming the field that is wrong. The wire
format is defined in spec/lifecycle.md; golden files pin it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidManifest, SignatureError
from ..format import digest as _digest
from ..format.descriptor import Descriptor, build_index, build_manifest, parse_index
from ..format.mediatypes import ANN_CREATED, EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from ..signing.predicates import timestamp

PROMOTION_V1 = "https://modelcrate.dev/promotion/v1"
DEPRECATION_V1 = "https://modelcrate.dev/deprecation/v1"
TAG_OVERWRITE_V1 = "https://modelcrate.dev/tag-overwrite/v1"
ACTIONS = ("promote", "rollback", "retire", "demote")
NO_POLICY = "no policy"
EVIDENCE_KINDS = ("approval", "signature", "attestation", "deprecation", "other")
STATUSES = ("deprecated", "retired")

# A history entry is an image index (spec/lifecycle.md "How the chain is stored").
HISTORY_ENTRY_TYPE = "application/vnd.modelcrate.history.entry.v1+json"
EMPTY_STAGE_TYPE = "application/vnd.modelcrate.stage.empty.v1+json"
ANN_STAGE = "dev.modelcrate.history.stage"
ANN_SEQUENCE = "dev.modelcrate.history.sequence"
ANN_PREVIOUS = "dev.modelcrate.history.previous"
ANN_EMPTY_STAGE = "dev.modelcrate.stage.empty"
MAX_REASON = 4096
MAX_EVIDENCE = 256
_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


class RecordError(SignatureError):
    """A signed record or history entry does not follow spec/lifecycle.md."""


# --- promotion predicate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """Something that satisfied the policy: its kind, digest, and (for approvals/signatures) who signed it."""

    kind: str
    digest: str
    signer: str | None = None
    predicate_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "digest": self.digest}
        if self.signer:
            out["signer"] = self.signer
        if self.predicate_type:
            out["predicateType"] = self.predicate_type
        return out


@dataclass(frozen=True)
class Promotion:
    """The facts of one promotion record (the ``https://modelcrate.dev/promotion/v1`` predicate)."""

    stage: str
    action: str
    from_digest: str | None
    to_digest: str | None
    actor: str
    reason: str
    evidence: tuple[Evidence, ...]
    policy: str
    time: str
    previous: str | None
    sequence: int

    def to_predicate(self) -> dict[str, Any]:
        """The predicate object, in the form spec/lifecycle.md defines."""
        return {
            "stage": self.stage,
            "action": self.action,
            "from": self.from_digest,
            "to": self.to_digest,
            "actor": self.actor,
            "reason": self.reason,
            "evidence": [e.to_dict() for e in self.evidence],
            "policy": self.policy,
            "time": self.time,
            "previous": self.previous,
            "sequence": self.sequence,
        }


def promotion(*, stage: str, action: str, from_digest: str | None, to_digest: str | None, actor: str,
              reason: str = "", evidence: Sequence[Evidence] = (), policy: str | None = None, time: Any,
              previous: str | None, sequence: int) -> Promotion:
    """Build (and check) a promotion record. ``policy`` is the policy's digest, or None for no policy.

    >>> p = promotion(stage="production", action="promote", from_digest=None, to_digest="sha256:" + "a" * 64,
    ...               actor="key 1234", time="2026-01-02T03:04:05Z", previous=None, sequence=1)
    >>> p.to_predicate()["policy"]
    'no policy'
    """
    record = Promotion(stage, action, from_digest, to_digest, actor, reason,
                       tuple(sorted(evidence, key=lambda e: (e.kind, e.digest))),
                       policy or NO_POLICY, timestamp(time), previous, sequence)
    return parse_promotion(record.to_predicate())


def _field(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *, what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise RecordError(f"{what}: field {key!r} is missing or not a {getattr(kind, '__name__', 'value')}")
    return value


def _digest_or_none(obj: Mapping[str, Any], key: str, *, what: str) -> str | None:
    if key not in obj:
        raise RecordError(f"{what}: field {key!r} is missing")
    value = obj[key]
    if value is None:
        return None
    if not isinstance(value, str) or not _digest.is_digest(value):
        raise RecordError(f"{what}: field {key!r} must be sha256:<64 hex> or null")
    return value


def _time(value: Any, *, what: str) -> str:
    if not isinstance(value, str) or not _RFC3339_UTC.fullmatch(value):
        raise RecordError(f"{what}: time must be RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)")
    return value


def _evidence(items: Any, *, what: str) -> tuple[Evidence, ...]:
    if not isinstance(items, list) or len(items) > MAX_EVIDENCE:
        raise RecordError(f"{what}: evidence must be a list of at most {MAX_EVIDENCE} entries")
    out = []
    for i, item in enumerate(items):
        where = f"{what}: evidence[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"kind", "digest", "signer", "predicateType"}:
            raise RecordError(f"{where} must hold kind, digest and optionally signer, predicateType")
        kind = _field(item, "kind", str, what=where)
        if kind not in EVIDENCE_KINDS:
            raise RecordError(f"{where}: kind must be one of {', '.join(EVIDENCE_KINDS)}")
        dgst = _field(item, "digest", str, what=where)
        if not _digest.is_digest(dgst):
            raise RecordError(f"{where}: digest must be sha256:<64 hex>")
        signer, ptype = item.get("signer"), item.get("predicateType")
        if signer is not None and not isinstance(signer, str) or ptype is not None and not isinstance(ptype, str):
            raise RecordError(f"{where}: signer and predicateType are strings")
        out.append(Evidence(kind, dgst, signer, ptype))
    return tuple(out)


_PROMOTION_KEYS = {"stage", "action", "from", "to", "actor", "reason", "evidence", "policy", "time", "previous",
                   "sequence"}


def parse_promotion(predicate: Any) -> Promotion:
    """Check an untrusted promotion predicate (from a verified statement) and return its facts."""
    what = "promotion record"
    if not isinstance(predicate, Mapping):
        raise RecordError(f"{what} is not a JSON object")
    unknown = set(predicate) - _PROMOTION_KEYS
    if unknown:
        raise RecordError(f"{what}: unknown fields {', '.join(sorted(map(str, unknown)))}")
    stage = _field(predicate, "stage", str, what=what)
    action = _field(predicate, "action", str, what=what)
    if action not in ACTIONS:
        raise RecordError(f"{what}: action must be one of {', '.join(ACTIONS)}")
    from_digest = _digest_or_none(predicate, "from", what=what)
    to_digest = _digest_or_none(predicate, "to", what=what)
    if action in ("promote", "rollback") and to_digest is None:
        raise RecordError(f"{what}: a {action} names the digest it moves the stage to")
    if action == "demote" and to_digest is not None:
        raise RecordError(f"{what}: a demote leaves the stage empty (to is null)")
    actor = _field(predicate, "actor", str, what=what)
    reason = _field(predicate, "reason", str, what=what)
    if len(reason) > MAX_REASON:
        raise RecordError(f"{what}: reason is longer than {MAX_REASON} characters")
    policy = _field(predicate, "policy", str, what=what)
    if policy != NO_POLICY and not _digest.is_digest(policy):
        raise RecordError(f"{what}: policy must be a sha256 digest or {NO_POLICY!r}")
    sequence = _field(predicate, "sequence", int, what=what)
    previous = _digest_or_none(predicate, "previous", what=what)
    if sequence < 1 or (sequence == 1) != (previous is None):
        raise RecordError(f"{what}: sequence starts at 1, and only the first record has no previous entry")
    return Promotion(stage, action, from_digest, to_digest, actor, reason,
                     _evidence(predicate.get("evidence"), what=what), policy,
                     _time(predicate.get("time"), what=what), previous, sequence)


# --- deprecation predicate -------------------------------------------------------------------------


@dataclass(frozen=True)
class Deprecation:
    """The facts of a deprecation (or retirement) record about one model digest."""

    status: str
    reason: str
    successor: str | None
    actor: str
    time: str

    def to_predicate(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "successor": self.successor, "actor": self.actor,
                "time": self.time}


def deprecation(*, reason: str, actor: str, time: Any, successor: str | None = None,
                status: str = "deprecated") -> Deprecation:
    """Build (and check) a deprecation record; ``successor`` is the replacement's reference
    (``name@sha256:…``) or None."""
    return parse_deprecation(Deprecation(status, reason, successor, actor, timestamp(time)).to_predicate())


def parse_deprecation(predicate: Any) -> Deprecation:
    """Check an untrusted deprecation predicate and return its facts."""
    what = "deprecation record"
    if not isinstance(predicate, Mapping):
        raise RecordError(f"{what} is not a JSON object")
    unknown = set(predicate) - {"status", "reason", "successor", "actor", "time"}
    if unknown:
        raise RecordError(f"{what}: unknown fields {', '.join(sorted(map(str, unknown)))}")
    status = _field(predicate, "status", str, what=what)
    if status not in STATUSES:
        raise RecordError(f"{what}: status must be one of {', '.join(STATUSES)}")
    reason = _field(predicate, "reason", str, what=what)
    if not reason.strip() or len(reason) > MAX_REASON:
        raise RecordError(f"{what}: a reason of 1 to {MAX_REASON} characters is required")
    successor = predicate.get("successor")
    if successor is not None and (not isinstance(successor, str) or not successor or len(successor) > 512):
        raise RecordError(f"{what}: successor must be a reference or null")
    return Deprecation(status, reason, successor, _field(predicate, "actor", str, what=what),
                       _time(predicate.get("time"), what=what))


# --- tag-overwrite predicate ------------------------------------------------------------------------


@dataclass(frozen=True)
class TagOverwrite:
    """The facts of a forced overwrite of a version tag: which tag, what it named, what it names now."""

    tag: str
    old_digest: str
    new_digest: str
    actor: str
    reason: str
    time: str

    def to_predicate(self) -> dict[str, Any]:
        return {"tag": self.tag, "oldDigest": self.old_digest, "newDigest": self.new_digest, "actor": self.actor,
                "reason": self.reason, "time": self.time}


def tag_overwrite(*, tag: str, old_digest: str, new_digest: str, actor: str, reason: str, time: Any) -> TagOverwrite:
    """Build (and check) the record of moving version tag ``tag`` from ``old_digest`` to ``new_digest``."""
    return parse_tag_overwrite(TagOverwrite(tag, old_digest, new_digest, actor, reason, timestamp(time)).to_predicate())


def parse_tag_overwrite(predicate: Any) -> TagOverwrite:
    """Check an untrusted tag-overwrite predicate and return its facts."""
    what = "tag-overwrite record"
    if not isinstance(predicate, Mapping):
        raise RecordError(f"{what} is not a JSON object")
    fields = ("tag", "oldDigest", "newDigest", "actor", "reason", "time")
    unknown = set(predicate) - set(fields)
    if unknown:
        raise RecordError(f"{what}: unknown fields {', '.join(sorted(map(str, unknown)))}")
    tag = _field(predicate, "tag", str, what=what)
    old, new = (_digest_or_none(predicate, k, what=what) for k in ("oldDigest", "newDigest"))
    if not tag or old is None or new is None or old == new:
        raise RecordError(f"{what}: a tag and two different digests are required")
    reason = _field(predicate, "reason", str, what=what)
    if len(reason) > MAX_REASON:
        raise RecordError(f"{what}: reason is longer than {MAX_REASON} characters")
    return TagOverwrite(tag, old, new, _field(predicate, "actor", str, what=what), reason,
                        _time(predicate.get("time"), what=what))


# --- history entries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryNode:
    """A history entry as read from its index (unsigned hints: the signed record decides)."""

    record: Descriptor  # the record's referrer manifest (holds the bundle)
    previous: Descriptor | None  # the previous entry's index
    stage: str
    sequence: int
    subject: Descriptor | None


def entry_annotations(stage: str, sequence: int, previous: str | None, created: str) -> dict[str, str]:
    out = {ANN_STAGE: stage, ANN_SEQUENCE: str(sequence), ANN_CREATED: created}
    if previous is not None:
        out[ANN_PREVIOUS] = previous
    return out


def build_entry(record: Descriptor, previous: Descriptor | None, subject: Descriptor, *, stage: str,
                sequence: int, created: str) -> bytes:
    """Exact bytes of a history entry: an index listing the record (and the previous entry, so the whole
    chain is reachable from the head tag, by copies and garbage collectors alike)."""
    manifests = [record] + ([previous.bare()] if previous is not None else [])
    return build_index(manifests, artifact_type=HISTORY_ENTRY_TYPE, subject=subject,
                       annotations=entry_annotations(stage, sequence, previous.digest if previous else None,
                                                     created))


def parse_entry(raw: bytes) -> EntryNode:
    """Parse untrusted history-entry bytes (an index made by :func:`build_entry`)."""
    try:
        index = parse_index(raw)
    except InvalidManifest as exc:
        raise RecordError(f"history entry is malformed: {exc}") from None
    what = "history entry"
    if index.artifact_type != HISTORY_ENTRY_TYPE:
        raise RecordError(f"{what} has artifactType {str(index.artifact_type)[:80]!r}, not {HISTORY_ENTRY_TYPE}")
    ann = index.annotations
    stage, seq_text, prev = ann.get(ANN_STAGE), ann.get(ANN_SEQUENCE, ""), ann.get(ANN_PREVIOUS)
    if not stage or not seq_text.isdigit() or len(seq_text) > 9 or int(seq_text) < 1:
        raise RecordError(f"{what} lacks a stage or a sequence number")
    sequence = int(seq_text)
    expected = 1 if sequence == 1 else 2
    if len(index.manifests) != expected:
        raise RecordError(f"{what} #{sequence} lists {len(index.manifests)} manifests, expected {expected}")
    record = index.manifests[0]
    previous = index.manifests[1] if sequence > 1 else None
    if record.media_type != OCI_MANIFEST:
        raise RecordError(f"{what} #{sequence}: its record is not an image manifest")
    if previous is not None and (previous.media_type != OCI_INDEX or prev != previous.digest):
        raise RecordError(f"{what} #{sequence}: its previous-entry annotation and listing disagree")
    if sequence == 1 and prev is not None:
        raise RecordError(f"{what} #1 names a previous entry")
    return EntryNode(record, previous, stage, sequence, index.subject)


def empty_stage(stage: str) -> tuple[bytes, Descriptor]:
    """The marker manifest a stage tag names while the stage is empty (after a retire or demote): exact
    bytes, the same for every repository, so anyone can recompute its digest."""
    raw = build_manifest(Descriptor.of(OCI_EMPTY, EMPTY_JSON), [], artifact_type=EMPTY_STAGE_TYPE,
                         annotations={ANN_EMPTY_STAGE: stage})
    return raw, Descriptor.of(OCI_MANIFEST, raw)
