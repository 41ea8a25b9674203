"""``status REPO``: every version of a repository on one screen, with its stages, signatures, approvals,
deprecation or retirement, and the modelcar images built from it.

With a policy (or keys) the signatures, approvals and deprecations shown are the verified ones, and the
stages come from verified histories. Without, what the referrers claim is shown and marked unverified.
Each version's referrers are listed once and every kind of record is read from that one listing; a tag
naming a modelcar of a version is shown under that version (where the image was pushed), not as one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..content.referrers import Candidate, candidates
from ..content.tagupdate import current
from ..content.target import TagLister, Target, resolve_tag
from ..errors import ModelcrateError, UsageError
from ..format.descriptor import Descriptor
from ..format.model import ModelView
from ..format.reference import Reference
from ..serving.linked import LinkedModelcar, linked_modelcars
from ..signatures import ANN_PREDICATE_TYPE, SIGNATURE_TYPE, Verifier, read_subject
from ..signatures.records import DEFAULT_BUDGET, collect_listed
from ..signing import statement as _statement
from ..signing.approval import APPROVAL_V1, parse_approval
from . import api as _api
from .deprecation import decisive, well_formed
from .gate import Gate, NoPolicy, trusted_signers
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
    modelcars: tuple[LinkedModelcar, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"tag": self.tag, "digest": self.digest, "created": self.created, "version": self.version,
                "stages": list(self.stages), "signatures": list(self.signatures),
                "approvals": list(self.approvals), "deprecation": self.deprecation, "verified": self.verified,
                "modelcars": [m.to_dict() for m in self.modelcars]}


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


Claims = tuple[tuple[str, ...], tuple[str, ...], str | None]  # signatures, approvals, deprecation


def _verified(target: Target, desc: Descriptor, everyone: Verifier, listed: Sequence[Candidate],
              notes: list[str]) -> Claims:
    def collect(predicate_type: str) -> list:
        uri = _statement.predicate_type_uri(predicate_type)
        return collect_listed(target, desc, everyone, uri, listed, notes, DEFAULT_BUDGET).records

    sigs = tuple(dict.fromkeys(r.signer for r in collect(SIGNATURE_TYPE)))
    approvals = []
    for r in collect(APPROVAL_V1):
        try:
            f = parse_approval(r.predicate)
        except ModelcrateError:
            continue
        approvals.append(f"{f.stage}: {f.decision} by {r.signer}")
    dep = decisive(well_formed(collect(DEPRECATION_V1))[0])
    return sigs, tuple(approvals), (dep.summary if dep else None)


def _claimed(listed: Sequence[Candidate]) -> Claims:
    """What the listing says, unopened: counts of each kind (claims, never evidence)."""
    kinds = Counter((c.descriptor.annotations or {}).get(ANN_PREDICATE_TYPE) for c in listed)
    sigs = (f"{kinds[SIGNATURE_TYPE]} claimed",) if kinds[SIGNATURE_TYPE] else ()
    approvals = (f"{kinds[APPROVAL_V1]} claimed",) if kinds[APPROVAL_V1] else ()
    return sigs, approvals, ("claimed (unverified)" if kinds[DEPRECATION_V1] else None)


def status(repo: str, *, gate: Gate | None = None, verifier: Verifier | None = None,
           ctx: _api.Context = _api.DEFAULT_CONTEXT) -> Status:
    """Every version tag of ``repo`` with its digest, created time, stages, signatures, approvals,
    deprecation and modelcar images; and every stage's history state."""
    gate = gate or NoPolicy()
    r = _api.repository_ref(repo)
    shown_name = str(Reference(r.registry, r.repository))
    everyone = trusted_signers(gate, verifier)
    with _api.opened(r, ctx, push=False) as target:
        if not isinstance(target, TagLister):
            raise UsageError(f"{r.name} cannot list its tags")
        stages = _stage_reports(target, r.name, gate, verifier, ctx)
        stage_names = set(_api.stages_of(target, gate))
        # One request per tag where the Target offers it: the GET that resolves it brings the manifest.
        tagged = [(tag, resolve_tag(target, tag, fetching=True)) for tag in target.tags()
                  if not (is_lifecycle_tag(tag) or tag in stage_names)]
        by_digest: dict[str, list[str]] = {}
        for tag, desc in tagged:
            by_digest.setdefault(desc.digest, []).append(tag)

        def version(tag: str, desc: Descriptor, view: ModelView | None) -> VersionStatus:
            """One row, from the manifest's referrers listing read once; modelcars only for a model."""
            meta = (view.metadata if view is not None else None) or {}
            listed, notes = candidates(target, desc)
            listed = [c for c in listed if not c.legacy]  # cosign's .sig image holds no record
            held = tuple(s.stage for s in stages if s.history.current == desc.digest and s.untracked is None)
            sigs, approvals, dep = (_verified(target, desc, everyone, listed, notes) if everyone is not None
                                    else _claimed(listed))
            cars = linked_modelcars(target, desc, shown_name, listed, by_digest, everyone) if view is not None else []
            return VersionStatus(tag, desc.digest, meta.get("created"), meta.get("version"), held, sigs, approvals,
                                 dep, everyone is not None, tuple(cars))

        views = [(tag, desc, read_subject(target, desc)) for tag, desc in tagged]
        rows = [version(*row) for row in views if row[2] is not None]
        carried = {m.digest for v in rows for m in v.modelcars}  # shown under their model, not as versions
        rows += [version(*row) for row in views if row[2] is None and row[1].digest not in carried]
    order = {tag: i for i, (tag, _d) in enumerate(tagged)}
    versions = sorted(rows, key=lambda v: order[v.tag])
    return Status(shown_name, tuple(versions), tuple(stages))
