"""What the signature operations return: plain values with a stable ``to_dict`` for ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..format.descriptor import Descriptor
from ..signing import statement as _statement


@dataclass(frozen=True)
class Stored:
    """Something ``sign`` or ``attest`` wrote: its kind, the referrer (or tag) and predicate type."""

    kind: str
    descriptor: Descriptor
    predicate_type: str | None = None
    tag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "digest": self.descriptor.digest}
        if self.predicate_type:
            out["predicateType"] = self.predicate_type
        if self.tag:
            out["tag"] = self.tag
        return out


@dataclass(frozen=True)
class SignResult:
    """What ``sign`` did: the subject digest, what it stored, and notes (e.g. why OMS was skipped)."""

    digest: str
    stored: tuple[Stored, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verified:
    """One signature or attestation that passed every check."""

    kind: str  # "bundle" or "cosign"
    referrer: str  # digest of the referrer manifest (the .sig manifest for cosign)
    predicate_type: str
    signer: str
    created: str | None  # a time the verified statement states (signed); None when it states none
    signed_name: str | None
    statement: _statement.Statement | None = field(default=None, repr=False, compare=False)
    claimed_created: str | None = None  # the referrer's creation annotation: unsigned, anyone could write it

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "referrer": self.referrer, "predicateType": self.predicate_type,
                               "signer": self.signer, "created": self.created, "signedName": self.signed_name,
                               "claimedCreated": self.claimed_created}
        if self.statement is not None and self.statement.predicate:
            out["predicate"] = self.statement.predicate
        return out
