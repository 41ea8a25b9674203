"""Deprecation and retirement records: signed statements about one model digest (spec/lifecycle.md).

A deprecation says "do not start using this; use the successor"; a retirement (written by ``retire``) says
the model was taken out of every stage. Both are ``https://modelcrate.dev/deprecation/v1`` records, stored
as referrers of the model with the shared record layer, and found again only through a verifier.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..content.target import Target
from ..errors import ModelcrateError
from ..format.descriptor import Descriptor
from ..signatures import Record, Signer, Stored, Verifier, attach_record, collect_records
from .records import DEPRECATION_V1, Deprecation, deprecation, parse_deprecation


@dataclass(frozen=True)
class Deprecated:
    """A verified deprecation (or retirement) record and its facts."""

    record: Record
    facts: Deprecation

    def to_dict(self) -> dict[str, object]:
        return {**self.facts.to_predicate(), "signer": self.record.signer, "record": self.record.descriptor.digest}

    @property
    def summary(self) -> str:
        """One line, as ``status`` and ``search`` show it: ``deprecated: REASON`` or ``retired: REASON``."""
        return f"{self.facts.status}: {self.facts.reason}"

    def warning(self, shown: str) -> str:
        """The line ``resolve`` and a verifying ``pull`` warn with: ``SHOWN is STATUS: REASON (successor: …)``."""
        successor = self.facts.successor
        return f"{shown} is {self.summary}" + (f" (successor: {successor})" if successor else "")


def deprecate(target: Target, subject: Descriptor, name: str, signer: Signer, *, reason: str,
              successor: str | None = None, created: datetime, status: str = "deprecated") -> Stored:
    """Sign a deprecation (``status="retired"`` for a retirement) of ``subject`` and attach it."""
    facts = deprecation(reason=reason, actor=signer.description, time=created.replace(microsecond=0),
                        successor=successor, status=status)
    return attach_record(target, subject, name, signer, DEPRECATION_V1, facts.to_predicate(), created=created)


def deprecations(target: Target, subject: Descriptor, name: str, verifier: Verifier) -> list[Deprecated]:
    """Every verified, well-formed deprecation record of ``subject``, oldest first."""
    return well_formed(collect_records(target, subject, name, verifier, predicate_type=DEPRECATION_V1).records)[0]


def well_formed(records: Iterable[Record]) -> tuple[list[Deprecated], list[str]]:
    """The deprecations among verified records, oldest first, and one line per malformed record."""
    found, malformed = [], []
    for record in records:
        try:
            found.append(Deprecated(record, parse_deprecation(record.predicate)))
        except ModelcrateError as exc:  # signed by an accepted key but malformed: it deprecates nothing
            malformed.append(f"deprecation record {record.descriptor.digest[:19]}… is malformed: {exc}")
    found.sort(key=lambda d: (datetime.fromisoformat(d.facts.time), d.record.descriptor.digest))
    return found, malformed


def deprecation_of(target: Target, desc: Descriptor, name: str, verifier: Verifier) -> Record | None:
    """The record that decides whether ``desc`` is deprecated: the newest retirement, else the newest
    deprecation; None when no accepted signer deprecated it. (A deprecation is not withdrawn: a model
    once deprecated stays so.)"""
    chosen = deprecated_state(target, desc, name, verifier)
    return chosen.record if chosen else None


def deprecated_state(target: Target, desc: Descriptor, name: str, verifier: Verifier) -> Deprecated | None:
    """:func:`deprecation_of` with the record's parsed facts."""
    return decisive(deprecations(target, desc, name, verifier))


def decisive(found: list[Deprecated]) -> Deprecated | None:
    """The newest retirement, else the newest deprecation (``found`` oldest first)."""
    retired = [d for d in found if d.facts.status == "retired"]
    return (retired or found or [None])[-1]
