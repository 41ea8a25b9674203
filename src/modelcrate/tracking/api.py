"""Deployments, attached documents and metrics by reference strings (the CLI's and the library's entry).

Writers sign with a :class:`~modelcrate.signatures.Signer`; readers verify with the keys they pass or the
signers a policy names (``gate``). Each function opens the Target, calls this package and returns plain
values; none prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .._internal.fsutil import atomic_write
from ..errors import AlreadyExists, PolicyViolation
from ..format.reference import Reference
from ..lifecycle.api import DEFAULT_CONTEXT, Context, opened, repository_ref, stages_of
from ..lifecycle.gate import Gate, NoPolicy, trusted_signers
from ..policy.evaluate import Metric
from ..policy.evidence import phase_of, verified_metrics
from ..signatures import Signer, Stored, Verifier
from ..signing.deployment import DeploymentFields
from ..signing.predicates import check_name
from ..targets import resolve as resolve_checked
from . import attachments as _att
from . import deployments as _dep
from . import events as _ev
from .versions import readers, versions


# --- deployments ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """A deployment event that was written, and the warnings it was written with."""

    reference: str
    stored: Stored
    fields: DeploymentFields
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"reference": self.reference, "record": self.stored.descriptor.digest, **self.fields.to_dict(),
                "warnings": list(self.warnings)}


def record_deployment(ref: str, *, environment: str, signer: Signer, event: str = "record",
                      endpoint: str | None = None, replicas: int | None = None, strict: bool = False,
                      gate: Gate | None = None, ctx: Context = DEFAULT_CONTEXT) -> Recorded:
    """Sign that the model at ``ref`` started (``event="record"``) or stopped (``"end"``) running in
    ``environment``. A model not in the stage the policy binds the environment to is recorded with a
    warning, or refused (nothing written) with ``strict``."""
    gate = gate or NoPolicy()
    check_name("environment", environment)
    r = Reference.parse(ref).or_latest()
    with opened(r, ctx, push=True) as target:
        subject = resolve_checked(target, r)
        _dep.check_deployer(gate, environment, signer)
        placed = _dep.placement(target, subject, gate, environment, stages_of(target, gate)) \
            if event == "record" else _dep.Placement(None, None)
        if placed.warning and strict:
            raise PolicyViolation(f"deployment refused: {placed.warning}",
                                  hint="promote the model into that stage first, or deploy without --strict")
        stored, fields = _dep.record(target, subject, r.name, signer, environment=environment, event=event,
                                     placed=placed, created=ctx.time(), endpoint=endpoint, replicas=replicas)
    return Recorded(f"{r.name}@{subject.digest}", stored, fields, (placed.warning,) if placed.warning else ())


@dataclass(frozen=True)
class Deployments:
    """Every verified deployment event of a repository, in time order, and what runs where."""

    repository: str
    events: tuple[_dep.Deployment, ...]
    running: dict[str, _dep.Deployment]
    at: datetime | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"repository": self.repository, "at": self.at.isoformat() if self.at else None,
                "running": {env: d.to_dict() for env, d in self.running.items()},
                "events": [d.to_dict() for d in self.events], "notes": list(self.notes)}


def deployments(repo: str, *, environment: str | None = None, at: datetime | None = None,
                gate: Gate | None = None, verifier: Verifier | None = None,
                ctx: Context = DEFAULT_CONTEXT) -> Deployments:
    """What ran where, when: the verified deployment records of every version of ``repo``."""
    gate = gate or NoPolicy()
    trusted = verifier or _dep.deployment_readers(gate, trusted_signers(gate))
    trusted = readers(gate, trusted)
    r = repository_ref(repo)
    with opened(r, ctx, push=False) as target:
        found, notes = versions(target, gate)
        events = [d for v in found for d in _dep.deployments_of(target, v.descriptor, r.name, trusted, v.tag)
                  if verifier is not None or _dep.accepted(gate, d.fields.environment, d.signer)]
    if environment is not None:
        events = [d for d in events if d.fields.environment == environment]
    events = _dep.ordered(events)
    shown = [d for d in events if at is None or d.fields.time <= at]
    return Deployments(r.name, tuple(shown), _dep.running(events, at), at, tuple(notes))


# --- attached documents --------------------------------------------------------------------------------


def attach(ref: str, path: str | Path, *, doc_type: str, signer: Signer, media_type: str | None = None,
           ctx: Context = DEFAULT_CONTEXT) -> tuple[str, Stored, _att.Attachment]:
    """Attach the file at ``path`` to the model at ``ref`` as a signed document of ``doc_type``."""
    from ..signing.attachment import media_type_of

    path = Path(path)
    data = path.read_bytes()
    r = Reference.parse(ref).or_latest()
    with opened(r, ctx, push=True) as target:
        subject = resolve_checked(target, r)
        stored, att = _att.attach(target, subject, r.name, signer, doc_type=doc_type, data=data,
                                  filename=path.name, media_type=media_type or media_type_of(path.name),
                                  created=ctx.time())
    return f"{r.name}@{subject.digest}", stored, att


def attachments(ref: str, *, doc_type: str | None = None, gate: Gate | None = None,
                verifier: Verifier | None = None, ctx: Context = DEFAULT_CONTEXT) -> list[_att.Attachment]:
    """The verified attachment records of the model at ``ref``."""
    trusted = readers(gate or NoPolicy(), verifier)
    r = Reference.parse(ref).or_latest()
    with opened(r, ctx, push=False) as target:
        return _att.attachments_of(target, resolve_checked(target, r), r.name, trusted, doc_type)


@dataclass(frozen=True)
class Fetched:
    attachment: _att.Attachment
    data: bytes = field(repr=False)


def get_attachment(ref: str, *, doc_type: str, gate: Gate | None = None, verifier: Verifier | None = None,
                   ctx: Context = DEFAULT_CONTEXT) -> Fetched:
    """The newest verified document of ``doc_type`` attached to ``ref``, its bytes checked against the
    digest its signed record names."""
    trusted = readers(gate or NoPolicy(), verifier)
    r = Reference.parse(ref).or_latest()
    with opened(r, ctx, push=False) as target:
        found = _att.attachments_of(target, resolve_checked(target, r), r.name, trusted, doc_type)
        if not found:
            from ..errors import NotFound

            raise NotFound(f"no {doc_type} document attached to {ref} and signed by a trusted signer")
        chosen = found[-1]
        return Fetched(chosen, _att.document_bytes(target, chosen))


def save(fetched: Fetched, out: str | Path, *, force: bool = False) -> Path:
    out = Path(out)
    if out.exists() and not force:
        raise AlreadyExists(f"{out} exists (use --force to replace it)")
    atomic_write(out, fetched.data)
    return out


ATTACHMENTS_DIR = ".modelcrate-attachments"


def save_attachments(ref: str, out_dir: str | Path, *, gate: Gate | None = None, verifier: Verifier | None = None,
                     force: bool = False, ctx: Context = DEFAULT_CONTEXT) -> list[Path]:
    """Write every verified document attached to ``ref`` into ``OUT/.modelcrate-attachments/TYPE/NAME``
    (a type URI goes to ``other``), each checked against its signed record first."""
    from ..signing.attachment import DOCUMENT_TYPES

    trusted = readers(gate or NoPolicy(), verifier)
    r = Reference.parse(ref).or_latest()
    written = []
    with opened(r, ctx, push=False) as target:
        for att in _att.attachments_of(target, resolve_checked(target, r), r.name, trusted):
            kind = att.fields.doc_type if att.fields.doc_type in DOCUMENT_TYPES else "other"
            path = Path(out_dir) / ATTACHMENTS_DIR / kind / att.fields.name  # name: one plain component
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(save(Fetched(att, _att.document_bytes(target, att)), path, force=force or path in written))
    return written


# --- metrics -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRow:
    version: str | None
    digest: str
    metric: Metric

    def to_dict(self) -> dict[str, object]:
        m = self.metric
        return {"version": self.version, "digest": self.digest, "name": m.name, "value": m.value,
                "phase": phase_of(m, self.digest), "time": m.time, "source": m.source}


def metrics(ref: str, *, name: str | None = None, gate: Gate | None = None, verifier: Verifier | None = None,
            ctx: Context = DEFAULT_CONTEXT) -> list[MetricRow]:
    """Every metric of the model at ``ref`` (or of every version, for a repository): the metadata's and
    those of verified evaluations, oldest first."""
    gate = gate or NoPolicy()
    trusted = readers(gate, verifier)
    r = Reference.parse(ref)
    rows: list[MetricRow] = []
    with opened(r, ctx, push=False) as target:
        if r.tag or r.digest:
            subjects = [(r.tag, resolve_checked(target, r))]
        else:
            subjects = [(v.tag, v.descriptor) for v in versions(target, gate)[0]]
        for tag, desc in subjects:
            rows += [MetricRow(tag, desc.digest, m) for m in verified_metrics(target, desc, r.name, trusted)
                     if name is None or m.name == name]
    return sorted(rows, key=lambda row: (row.metric.time or "", row.version or "", row.metric.name))


# --- events --------------------------------------------------------------------------------------------


def _is_registry(text: str) -> bool:
    return "/" not in text and ("." in text or ":" in text or text == "localhost")


def repository_events(repo: str, *, gate: Gate | None = None, verifier: Verifier | None = None,
                      ctx: Context = DEFAULT_CONTEXT) -> tuple[list[_ev.Event], list[str]]:
    """Every verified governance event of one repository (unordered) and notes on what was passed over."""
    gate = gate or NoPolicy()
    trusted = readers(gate, _dep.deployment_readers(gate, trusted_signers(gate, verifier)))
    r = repository_ref(repo)
    out: list[_ev.Event] = []
    with opened(r, ctx, push=False) as target:
        found, notes = versions(target, gate)
        for v in found:
            events, more = _ev.model_events(target, r.name, v, trusted)
            out += [e for e in events if e.kind not in ("deployed", "deployment-ended") or verifier is not None
                    or _dep.accepted(gate, e.details["environment"], e.signer or "")]
            notes += more
        out += _ev.stage_events(target, r.name, gate, verifier, ctx, ctx.time().strftime("%Y-%m-%dT%H:%M:%SZ"))
    return out, notes


def events(where: str, *, since: datetime | None = None, gate: Gate | None = None,
           verifier: Verifier | None = None, ctx: Context = DEFAULT_CONTEXT) -> tuple[list[_ev.Event], list[str]]:
    """The events of a repository, or of every repository of a registry (``HOST[:PORT]``), in time order."""
    if _is_registry(where):
        from ..transfer import catalog

        repos = [f"{where}/{name}" for name in catalog(where, config=ctx.resolved(), remote=ctx.remote)]
    else:
        repos = [where]
    out: list[_ev.Event] = []
    notes: list[str] = []
    for repo in repos:
        found, more = repository_events(repo, gate=gate, verifier=verifier, ctx=ctx)
        out += found
        notes += more
    return _ev.ordered(out, since), notes
