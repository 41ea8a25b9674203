"""The report as Markdown (same content as the HTML page, without charts). Pure over the gathered document;
table cells are escaped so a record's text cannot break the table or inject markup."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .clauses import CLAUSES

_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|#"})


def _e(value: Any) -> str:
    return ("–" if value is None or value == "" else str(value)).translate(_SPECIAL).replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_e(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) if len(lines) > 2 else "_none_"


def render(doc: Mapping[str, Any]) -> str:
    s, card = doc["subject"], doc["modelCard"]
    out = [f"# Audit report: {_e(s['repository'])}:{_e(s.get('version'))}", "",
           f"`{s['digest']}` · generated {doc['generated']} · verified with {_e(doc['verifiedWith'])}", "",
           "## Model card", "",
           _table(["Field", "Value"], [[k, v] for k, v in card.items() if v and not isinstance(v, list)]
                  + [[k, ", ".join(v)] for k, v in card.items() if isinstance(v, list) and v]), "",
           "## Files", "", _table(["Path", "Kind", "Size", "Digest"],
                                  [[f["path"], f["kind"], f["size"], f["digest"]] for f in doc["files"]]), ""]
    lin = doc["lineage"]
    out += ["## Lineage", "", _table(["Input", "Identity"],
                                     ([["base model", f"{lin['baseModel']} ({lin.get('relation')})"]] if lin.get("baseModel") else [])
                                     + [[f"dataset {d['name']}", f"{d.get('uri')} {d.get('digest')}"] for d in lin["datasets"]]
                                     + ([["training code", f"{lin['code'].get('repository')} {lin['code'].get('commit')}"]]
                                        if lin.get("code") else [])), ""]
    out += ["## Signatures and attestations", "",
            _table(["Type", "Signer", "Record", "Result"],
                   [[x["predicateType"], x["signer"], x["record"], x["result"] + (f": {x['reason']}" if x["reason"] else "")]
                    for x in doc["signatures"] + doc["attestations"]]), ""]
    out += ["## Approvals", "", _table(["Stage", "Decision", "Signer", "Time", "Comment"],
                                       [[a["stage"], a["decision"], a["signer"], a["time"], a["comment"]]
                                        for a in doc["approvals"]]), ""]
    out += ["## Stage history", ""]
    for h in doc["history"]:
        out += [f"### {_e(h['stage'])}", ""] + ([f"**{_e(h.get('untracked') or h.get('problem'))}**", ""]
                                                 if h.get("untracked") or h.get("problem") else [])
        out += [_table(["#", "Time", "Action", "Model", "Signed by", "Reason"],
                       [[e["sequence"], e["time"], e["action"], e["model"], e["signer"], e["reason"]] for e in h["entries"]]), ""]
    dep = doc["deployments"]
    out += ["## Deployments", "", _table(["Time", "Event", "Environment", "From stage", "Signed by"],
                                         [[d["time"], d["event"], d["environment"], d["stage"], d["signer"]]
                                          for d in dep["events"]]), "",
            "Runs now in: " + (", ".join(_e(e) for e in dep["running"]) or "nowhere"), ""]
    out += ["## Metrics over time", "", _table(["Time", "Version", "Phase", "Metric", "Value", "Source"],
                                               [[m["time"], m["version"], m["phase"], m["name"], f"{m['value']:g}",
                                                 m["source"]] for m in doc["metrics"]]), ""]
    out += ["## Attached documents", "", _table(["Type", "Name", "Media type", "Size", "Digest", "Signed by", "Bytes"],
                                                [[d["type"], d["name"], d["mediaType"], d["size"], d["digest"],
                                                  d["signer"], d["result"]] for d in doc["documents"]]), ""]
    scan = doc["scan"]
    out += ["## Unsafe-format scan", "", f"Status: {scan['status']} ({_e(scan['method'])})", "",
            _table(["Path", "Finding"], [[f["path"], f["reason"]] for f in scan["findings"]]), ""]
    out += ["## Policy evaluation", ""]
    for p in doc["policy"]:
        verdict = "allowed" if p["allowed"] else "refused" if p["refused"] else "needs the promoter"
        out += [f"### {_e(p['stage'])}: {verdict}", "",
                _table(["Rule", "Result", "Reason"], [[r["rule"], r["status"], r["reason"]] for r in p["rules"]]), ""]
    out += ["## Compliance mapping", "", _table(["Section", "EU AI Act Annex IV", "NIST AI RMF 1.0"],
                                                [[c["title"], c["annexIV"], c["nist"]] for c in CLAUSES]), ""]
    return "\n".join(out)
