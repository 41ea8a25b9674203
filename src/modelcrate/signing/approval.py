"""The approval predicate (``https://modelcrate.dev/approval/v1``): a reviewer's signed decision about one
model digest for one stage (spec/lifecycle-records.md).

Pure: the builder takes every value as an argument and returns a plain dict that
:func:`modelcrate.signing.statement.build_statement` serialises canonically; the parser checks a
predicate taken from a VERIFIED statement and returns typed fields. A rejection is the same record with
``decision: reject``.

Example:

>>> pred = approval_predicate(stage="production", decision="approve", subject_digest="sha256:" + "ab" * 32,
...                           actor="key 3b1f0c2d4e5f6a7b", time="2026-01-02T03:04:05Z", comment="looks good")
>>> parse_approval(pred).decision
'approve'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelcrate.errors import UsageError
from modelcrate.signing.predicates import check_name, rebuilt, timestamp

APPROVAL_V1 = "https://modelcrate.dev/approval/v1"
DECISIONS = ("approve", "reject")
MAX_COMMENT = 4096

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_FIELDS = {"stage": "stage", "decision": "decision", "subjectDigest": "subject_digest", "actor": "actor",
           "comment": "comment", "time": "time"}  # JSON field -> argument of approval_predicate


@dataclass(frozen=True)
class ApprovalFields:
    """The fields of one approval predicate, checked."""

    stage: str
    decision: str  # "approve" or "reject"
    subject_digest: str
    actor: str
    time: datetime
    comment: str | None = None


def approval_predicate(*, stage: str, decision: str, subject_digest: str, actor: str, time: datetime | str,
                       comment: str | None = None) -> dict[str, Any]:
    """The predicate of an approval (or rejection) of ``subject_digest`` for ``stage``."""
    check_name("stage", stage)
    if decision not in DECISIONS:
        raise UsageError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not isinstance(subject_digest, str) or not _DIGEST.fullmatch(subject_digest):
        raise UsageError(f"subject digest {subject_digest!r} is not sha256:<64 hex>")
    if not isinstance(actor, str) or not actor:
        raise UsageError("an approval needs the actor's identity")
    out: dict[str, Any] = {"stage": stage, "decision": decision, "subjectDigest": subject_digest,
                           "actor": actor, "time": timestamp(time)}
    if comment is not None and not isinstance(comment, str):
        raise UsageError("comment must be a string")
    if comment:
        if len(comment) > MAX_COMMENT:
            raise UsageError(f"the comment is longer than {MAX_COMMENT} characters")
        out["comment"] = comment
    return out


def parse_approval(predicate: Any) -> ApprovalFields:
    """Check a verified approval predicate; :class:`SignatureError` naming the bad field."""
    fields = rebuilt("approval", predicate, approval_predicate, _FIELDS)
    return ApprovalFields(fields["stage"], fields["decision"], fields["subjectDigest"], fields["actor"],
                          datetime.fromisoformat(fields["time"]), fields.get("comment"))
