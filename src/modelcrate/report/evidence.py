"""Gather and verify, once, everything the report says about one model (the only I/O of the report).

The result is a plain JSON-able document (spec/report.schema.json). Every record in it passed its
signature check under the reader's signers, or is listed with ``result: failed`` and the reason; claims
nobody signed (the metadata, the pack time) are marked as such. The renderers take this document only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..content.referrers import list_referrers
from ..content.target import Target
from ..errors import ModelcrateError, UsageError
from ..format.descriptor import Descriptor
from ..governance import tagged_stages
from ..lifecycle.api import Context, stage_report, stages_of
from ..lifecycle.gate import Gate
from ..lifecycle.policy_gate import PolicyGate
from ..lifecycle.records import DEPRECATION_V1, PROMOTION_V1
from ..policy.evaluate import evaluate
from ..policy.evidence import gather, phase_of, verified_metrics
from ..signatures import ANN_PREDICATE_TYPE, OMS_PREDICATE_TYPE, SIGNATURE_TYPE, Verifier, collect_records, read_subject
from ..signing.approval import APPROVAL_V1, parse_approval
from ..signing.attachment import ATTACHMENT_V1
from ..signing.deployment import DEPLOYMENT_V1
from ..signing.predicates import timestamp
from ..tracking import attachments as _att
from ..tracking import deployments as _dep
from ..tracking.versions import versions
from . import REPORT_V1
from .clauses import CLAUSES

# Formats whose loaders can run code (pickle and friends): reported from the file names, never opened.
UNSAFE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".npy", ".npz", ".h5", ".keras")
# The OMS bundle signs the model's files, not the manifest: it is checked when unpacking, not here.
_RECORD_TYPES = {SIGNATURE_TYPE, OMS_PREDICATE_TYPE, APPROVAL_V1, PROMOTION_V1, DEPLOYMENT_V1, ATTACHMENT_V1,
                 DEPRECATION_V1}
_CARD = (("name", "name"), ("version", "version"), ("title", "title"), ("description", "description"),
         ("license", "license"), ("framework", "framework"), ("format", "format"), ("architecture", "architecture"),
         ("paramSize", "paramSize"), ("precision", "precision"), ("task", "pipeline_tag"), ("created", "created"),
         ("intendedUse", "intended_use"), ("limitations", "limitations"), ("risks", "risks"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else (None if value is None else str(value))


def model_card(metadata: Mapping[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = {key: _text(metadata.get(src)) for key, src in _CARD}
    for key in ("authors", "owners", "tags"):
        items = metadata.get(key)
        card[key] = [str(x) for x in items] if isinstance(items, list) else []
    return card


def lineage(metadata: Mapping[str, Any]) -> dict[str, Any]:
    raw = metadata.get("lineage") if isinstance(metadata.get("lineage"), Mapping) else {}
    datasets = [{k: _text(d.get(k)) for k in ("name", "uri", "digest", "split")}
                for d in raw.get("datasets") or [] if isinstance(d, Mapping)]
    code = raw.get("code") if isinstance(raw.get("code"), Mapping) else None
    return {"baseModel": _text(raw.get("base_model")), "relation": _text(raw.get("base_model_relation")),
            "datasets": datasets, "trainingRun": _text(raw.get("training_run")),
            "code": {k: _text(code.get(k)) for k in ("repository", "commit", "path")} if code else None}


def _records(target: Target, desc: Descriptor, name: str, verifier: Verifier, ptype: str) -> tuple[list, list]:
    found = collect_records(target, desc, name, verifier, predicate_type=ptype)
    return found.records, found.rejected


def _signed(target: Target, desc: Descriptor, name: str, verifier: Verifier, types: list[str]) -> dict[str, list]:
    """Signatures and attestations, each verified or failed with its reason."""
    out: dict[str, list] = {"signatures": [], "attestations": []}
    for ptype in types:
        section = "signatures" if ptype == SIGNATURE_TYPE else "attestations"
        records, rejected = _records(target, desc, name, verifier, ptype)
        for r in records:
            entry = {"predicateType": ptype, "signer": r.signer, "record": r.descriptor.digest,
                     "bundle": r.bundle_digest, "created": r.created, "result": "verified", "reason": None}
            if section == "attestations":
                entry["summary"] = _summary(r.predicate)
            out[section].append(entry)
        for line in rejected:
            record, _, reason = line.partition(": ")
            out[section].append({"predicateType": ptype, "signer": None, "record": record, "bundle": None,
                                 "created": None, "result": "failed", "reason": reason,
                                 **({"summary": None} if section == "attestations" else {})})
    return out


def _summary(predicate: Mapping[str, Any]) -> str | None:
    if isinstance(predicate.get("verdict"), str):  # a scan record (spec/scan.md)
        return f"verdict {predicate['verdict']}" + (f" at {predicate['scannedAt']}"
                                                     if isinstance(predicate.get("scannedAt"), str) else "")
    metrics = predicate.get("metrics")
    if isinstance(metrics, list):
        parts = [f"{m.get('name')}={m.get('value')}" for m in metrics[:8] if isinstance(m, Mapping)]
        phase = predicate.get("phase")
        return ", ".join(parts) + (f" ({phase})" if isinstance(phase, str) else "")
    build = predicate.get("buildDefinition")
    if isinstance(build, Mapping):
        return f"build type {build.get('buildType')}"
    return None


def _approvals(target: Target, desc: Descriptor, name: str, verifier: Verifier) -> list[dict[str, Any]]:
    out = []
    for r in _records(target, desc, name, verifier, APPROVAL_V1)[0]:
        try:
            f = parse_approval(r.predicate)
        except ModelcrateError:
            continue
        if f.subject_digest == desc.digest:
            out.append({"stage": f.stage, "decision": f.decision, "signer": r.signer, "time": timestamp(f.time),
                        "comment": f.comment, "record": r.bundle_digest})
    return sorted(out, key=lambda a: a["time"])


def _documents(target: Target, desc: Descriptor, name: str, verifier: Verifier) -> list[dict[str, Any]]:
    out = []
    for a in _att.attachments_of(target, desc, name, verifier):
        try:
            _att.document_bytes(target, a)
            result, reason = "verified", None
        except ModelcrateError as exc:
            result, reason = "failed", str(exc)
        out.append({**a.to_dict(), "result": result, "reason": reason})
    return out


def _history(target: Target, name: str, gate: Gate, verifier: Verifier | None, ctx: Context,
             digest: str) -> list[dict[str, Any]]:
    out = []
    for stage in stages_of(target, gate):
        try:
            rep = stage_report(target, name, stage, gate, verifier, ctx)
        except UsageError:
            continue
        except ModelcrateError as exc:
            out.append({"stage": stage, "current": None, "holdsThisModel": False, "signersVerified": False,
                        "untracked": None, "problem": str(exc), "entries": []})
            continue
        if not rep.history.entries and not rep.tagged:
            continue
        out.append({"stage": stage, "current": rep.history.current, "holdsThisModel": rep.history.current == digest,
                    "signersVerified": rep.signers_verified, "untracked": rep.untracked, "problem": None,
                    "entries": [{"sequence": e.sequence, "time": e.promotion.time, "action": e.promotion.action,
                                 "model": e.subject, "signer": e.signer, "reason": e.promotion.reason,
                                 "entry": e.digest, "evidence": len(e.promotion.evidence)}
                                for e in rep.history.entries]})
    return out


def _policy(target: Target, desc: Descriptor, name: str, gate: Gate, history: list[dict]) -> list[dict[str, Any]]:
    if not isinstance(gate, PolicyGate):
        return []
    verified = frozenset(h["stage"] for h in history if h["holdsThisModel"] and not h["untracked"])
    current = verified or tagged_stages(target, desc.digest, gate.stages())
    out = []
    for stage in gate.stages():
        rules = gate.policy.stage(stage)
        baselines = {g.baseline: gate.baseline(target, g.baseline) for g in (rules.metrics if rules else ())
                     if g.baseline is not None}
        ev = gather(target, desc, name, gate.policy, stage, current_stages=current, baselines=baselines).evidence
        decision = evaluate(gate.policy, ev)
        out.append({"stage": stage, "allowed": decision.allowed, "refused": decision.refused,
                    "policyDigest": decision.policy_digest, "rules": [r.to_dict() for r in decision.results]})
    return out


def _scan(files: list[dict[str, Any]], attestations: list[dict[str, Any]]) -> dict[str, Any]:
    findings = [{"path": f["path"], "reason": "a format whose loader can run code (pickle family)"}
                for f in files if f["path"].lower().endswith(UNSAFE_SUFFIXES)]
    records = [a for a in attestations if "scan" in a["predicateType"].lower()]
    status = "findings" if findings else "clean"
    return {"status": status, "method": "file names in the signed manifest (no file is opened); a signed scan "
                                        "record (`modelcrate scan`, spec/scan.md) reads the bytes and is the stronger "
                                        "answer when present",
            "findings": findings, "records": records}


def gather_report(target: Target, desc: Descriptor, name: str, reference: str, *, gate: Gate,
                  verifier: Verifier, reader: Verifier | None, ctx: Context, generated: datetime) -> dict[str, Any]:
    """The report document for the model ``desc`` in ``target`` (``reader``: the caller's own keys, if any)."""
    view = read_subject(target, desc)
    if view is None:
        raise UsageError(f"{reference} is not a model manifest")
    metadata = dict(view.metadata or {})
    files = [{"path": f.path, "kind": f.kind, "mediaType": f.descriptor.media_type, "size": f.descriptor.size,
              "digest": f.descriptor.digest} for f in view.files]
    types = sorted({r.annotations.get(ANN_PREDICATE_TYPE) for r in list_referrers(target, desc)} - {None})
    signed = _signed(target, desc, name, verifier,
                     [SIGNATURE_TYPE] + [t for t in types if t not in _RECORD_TYPES][:32])
    history = _history(target, name, gate, reader, ctx, desc.digest)
    everything = versions(target, gate)[0]
    tagged = {v.descriptor.digest: v.tag for v in everything}
    deployer = _dep.deployment_readers(gate, verifier) or verifier
    every = [d for v in everything for d in _dep.deployments_of(target, v.descriptor, name, deployer, v.tag)
             if _dep.accepted(gate, d.fields.environment, d.signer)]
    found = [d for d in every if d.fields.digest == desc.digest]
    metrics = []
    for v in everything:
        metrics += [{"version": v.tag, "digest": v.descriptor.digest, "name": m.name, "value": m.value,
                     "phase": phase_of(m, v.descriptor.digest), "time": m.time, "source": m.source,
                     "thisModel": v.descriptor.digest == desc.digest}
                    for m in verified_metrics(target, v.descriptor, name, verifier)]
    return {
        "schema": REPORT_V1,
        "generated": timestamp(generated.replace(microsecond=0)),
        "subject": {"reference": reference, "repository": name, "digest": desc.digest,
                    "version": tagged.get(desc.digest) or _text(metadata.get("version")),
                    "size": sum(f["size"] for f in files)},
        "verifiedWith": getattr(verifier, "description", "the policy's signers"),
        "modelCard": model_card(metadata),
        "files": files,
        "lineage": lineage(metadata),
        **signed,
        "approvals": _approvals(target, desc, name, verifier),
        "history": history,
        "deployments": {"events": [d.to_dict() for d in _dep.ordered(found)],
                        "running": {env: d.to_dict() for env, d in _dep.running(every).items()
                                    if d.fields.digest == desc.digest}},
        "metrics": sorted(metrics, key=lambda m: (m["time"] or "", m["version"], m["name"])),
        "documents": _documents(target, desc, name, verifier),
        "scan": _scan(files, signed["attestations"]),
        "policy": _policy(target, desc, name, gate, history),
        "compliance": [dict(c) for c in CLAUSES],
    }
