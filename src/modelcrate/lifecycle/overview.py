"""``status REPO``: every version of a repository on one screen, with its stages, signatures, approvals,
deprecation or retirement.

With a policy (or keys) the signatures, approvals and deprecations shown are the verified ones, and the
stages come from verified histories. Without, what the referrers claim is shown and marked unverified.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..content.referrers import list_referrers
from ..content.tagupdate import current
from ..content.target import TagLister, Target
from ..errors import ModelcrateError, UsageError
from ..format.reference import Reference
from ..signatures import ANN_PREDICATE_TYPE, SIGNATURE_TYPE, Verifier, collect_records, read_subject
from ..signing.approval import APPROVAL_V1, parse_approval
from . import api as _api
from .deprecation import deprecated_state
from .gate import Gate, NoPolicy
from .chain import HistoryError, empty
from .reader import StageState, UnverifiedRecords, read_history
from .records import DEPRECATION_V1
from .stages import is_lifecycle_tag


@dataclass(frozen=True)
class VersionStatus:
    """One version tag and what is known about the model it names."""

    tag: str
    digest: str
    created: str | None
    version: str | None
    stages: tuple[str, ...]
    signatures: tuple[str, ...]
    approvals: tuple[str, ...]
    deprecation: str | None
    verified: bool

    def to_dict(self) -> dict[str, object]:
        return {"tag": self.tag, "digest": self.digest, "created": self.created, "version": self.version,
                "stages": list(self.stages), "signatures": list(self.signatures),
                "approvals": list(self.approvals), "deprecation": self.deprecation, "verified": self.verified}


@dataclass(frozen=True)
class Status:
    name: str
    versions: tuple[VersionStatus, ...]
    stages: tuple[_api.StageReport, ...]

    def to_dict(self) -> dict[str, object]:
        return {"repository": self.name, "versions": [v.to_dict() for v in self.versions],
                "stages": [s.to_dict() for s in self.stages]}


def _stage_reports(target: Target, name: str, gate: Gate, verifier: Verifier | None,
                   ctx: _api.Context) -> list[_api.StageReport]:
    reports = []
    for stage in _api.stages_of(target, gate):
        try:
            report = _api.stage_report(target, name, stage, gate, verifier, ctx)
        except UsageError:  # nobody to verify the signers with: show the chain's links, marked unverified
            state = StageState(read_history(target, stage, UnverifiedRecords()),  # type: ignore[arg-type]
                               current(target, stage))
            report = _api.StageReport(stage, state.history, state.tagged.digest if state.tagged else None,
                                      state.untracked, False)
        except HistoryError as exc:  # shown, and the stage holds nothing: a broken history proves nothing
            tagged = current(target, stage)
            report = _api.StageReport(stage, empty(stage), tagged.digest if tagged else None, None, False, str(exc))
        if report.history.entries or report.tagged or report.problem:
            reports.append(report)
    return reports


def _verified(target: Target, desc, name: str, everyone: Verifier) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    sigs = tuple(dict.fromkeys(r.signer for r in collect_records(target, desc, name, everyone,
                                                                predicate_type=SIGNATURE_TYPE).records))
    approvals = []
    for r in collect_records(target, desc, name, everyone, predicate_type=APPROVAL_V1).records:
        try:
            f = parse_approval(r.predicate)
        except ModelcrateError:
            continue
        approvals.append(f"{f.stage}: {f.decision} by {r.signer}")
    dep = deprecated_state(target, desc, name, everyone)
    return sigs, tuple(approvals), (f"{dep.facts.status}: {dep.facts.reason}" if dep else None)


def _claimed(target: Target, desc) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    kinds = Counter(r.annotations.get(ANN_PREDICATE_TYPE) for r in list_referrers(target, desc))
    sigs = (f"{kinds[SIGNATURE_TYPE]} claimed",) if kinds[SIGNATURE_TYPE] else ()
    approvals = (f"{kinds[APPROVAL_V1]} claimed",) if kinds[APPROVAL_V1] else ()
    return sigs, approvals, ("claimed (unverified)" if kinds[DEPRECATION_V1] else None)


def status(repo: str, *, gate: Gate | None = None, verifier: Verifier | None = None,
           ctx: _api.Context = _api.DEFAULT_CONTEXT) -> Status:
    """Every version tag of ``repo`` with its digest, created time, stages, signatures, approvals and
    deprecation; and every stage's history state."""
    gate = gate or NoPolicy()
    r = _api.repository_ref(repo)
    everyone = verifier or getattr(gate, "everyone", lambda: None)()
    with _api.opened(r, ctx, push=False) as target:
        if not isinstance(target, TagLister):
            raise UsageError(f"{r.name} cannot list its tags")
        stages = _stage_reports(target, r.name, gate, verifier, ctx)
        stage_names = set(_api.stages_of(target, gate))
        rows = []
        for tag in target.tags():
            if is_lifecycle_tag(tag) or tag in stage_names:
                continue
            desc = target.resolve(tag)
            view = read_subject(target, desc)
            meta = (view.metadata if view is not None else None) or {}
            held = tuple(s.stage for s in stages if s.history.current == desc.digest and s.untracked is None)
            sigs, approvals, dep = (_verified(target, desc, r.name, everyone) if everyone is not None
                                    else _claimed(target, desc))
            rows.append(VersionStatus(tag, desc.digest, meta.get("created"), meta.get("version"), held, sigs,
                                      approvals, dep, everyone is not None))
    return Status(str(Reference(r.registry, r.repository)), tuple(rows), tuple(stages))
