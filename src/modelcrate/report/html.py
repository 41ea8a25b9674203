"""The report as one self-contained HTML page: inline CSS and SVG, no script, no external resource, no link
out; it prints well. Pure over the gathered document; every string from a record or the metadata is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from . import charts
from .clauses import CLAUSES

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; margin: 0 auto;
       max-width: 1080px; padding: 24px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; border-bottom: 2px solid #e5e7eb;
       padding-bottom: 4px; margin-top: 28px; } h3 { font-size: 15px; margin: 16px 0 6px; }
.sub { color: #4b5563; margin: 0 0 16px; } code, .mono { font-family: ui-monospace, Menlo, monospace;
       font-size: 12px; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; } th, td { border: 1px solid #e5e7eb;
       padding: 4px 6px; text-align: left; vertical-align: top; } th { background: #f3f4f6; }
dl { display: grid; grid-template-columns: 180px 1fr; gap: 2px 12px; } dt { font-weight: 600; color: #374151; }
dd { margin: 0; white-space: pre-wrap; }
.ok { color: #15803d; font-weight: 600; } .bad { color: #b91c1c; font-weight: 600; }
.skip { color: #92400e; font-weight: 600; } .none { color: #6b7280; font-style: italic; }
.legend span { display: inline-block; margin-right: 14px; } .dot { display: inline-block; width: 10px;
       height: 10px; border-radius: 5px; margin-right: 4px; vertical-align: middle; }
section { margin-bottom: 12px; }
@media print { body { max-width: none; padding: 0; font-size: 11px; } section { break-inside: avoid-page; }
       h2 { break-after: avoid; } table { page-break-inside: auto; } tr { break-inside: avoid; } }
"""

SECTIONS = (("model-card", "Model card"), ("files", "Files"), ("lineage", "Lineage"),
            ("signatures", "Signatures and attestations"), ("approvals", "Approvals"), ("history", "Stage history"),
            ("deployments", "Deployments"), ("metrics", "Metrics over time"), ("documents", "Attached documents"),
            ("scan", "Unsafe-format scan"), ("policy", "Policy evaluation"), ("compliance", "Compliance mapping"))


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _none(text: str) -> str:
    return f'<p class="none">{_e(text)}</p>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; cells are HTML already (callers escape)."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + f"</tr></thead><tbody>{body}</tbody></table>"


def _code(value: Any) -> str:
    return f'<code>{_e(value)}</code>' if value else '<span class="none">–</span>'


def _result(result: str | None, reason: str | None = None) -> str:
    if result in ("verified", "pass", True):
        return '<span class="ok">verified</span>' if result == "verified" else '<span class="ok">pass</span>'
    if result in ("skip", None):
        return '<span class="skip">not checked</span>' + (f" – {_e(reason)}" if reason else "")
    return f'<span class="bad">{_e(result)}</span>' + (f" – {_e(reason)}" if reason else "")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _card(doc: Mapping[str, Any]) -> str:
    card = doc["modelCard"]
    labels = (("Name", "name"), ("Version", "version"), ("Title", "title"), ("Description", "description"),
              ("License", "license"), ("Framework", "framework"), ("Format", "format"),
              ("Architecture", "architecture"), ("Parameters", "paramSize"), ("Precision", "precision"),
              ("Task", "task"), ("Created", "created"))
    rows = "".join(f"<dt>{_e(label)}</dt><dd>{_e(card.get(key))}</dd>" for label, key in labels if card.get(key))
    people = "".join(f"<dt>{_e(k.title())}</dt><dd>{_e(', '.join(card.get(k) or []))}</dd>"
                     for k in ("authors", "owners") if card.get(k))
    use = "".join(f"<h3>{title}</h3><p>{_e(card.get(key))}</p>" if card.get(key) else
                  f"<h3>{title}</h3>" + _none("not stated in the metadata")
                  for title, key in (("Intended use", "intendedUse"), ("Limitations", "limitations"),
                                     ("Risks", "risks")))
    return f"<dl>{rows}{people}</dl>{use}"


def _files(doc: Mapping[str, Any]) -> str:
    return _table(["Path", "Kind", "Size", "Digest"],
                  [[_e(f["path"]), _e(f["kind"]), _e(_size(f["size"])), _code(f["digest"])] for f in doc["files"]])


def _lineage(doc: Mapping[str, Any]) -> str:
    lin = doc["lineage"]
    svg = charts.lineage_svg(lin, doc["subject"], doc["deployments"]["running"])
    rows = [["Base model", _e(lin.get("baseModel")) + (f" ({_e(lin.get('relation'))})" if lin.get("relation") else "")]]
    rows += [[f"Dataset {_e(d.get('name'))}", _e(d.get("uri")) + " " + _code(d.get("digest"))] for d in lin["datasets"]]
    if lin.get("code"):
        rows.append(["Training code", _e(lin["code"].get("repository")) + " " + _code(lin["code"].get("commit"))])
    if lin.get("trainingRun"):
        rows.append(["Training run", _e(lin["trainingRun"])])
    return svg + _table(["Input", "Identity"], rows)


def _signed(doc: Mapping[str, Any]) -> str:
    sigs = doc["signatures"]
    atts = doc["attestations"]
    out = "<h3>Signatures</h3>" + (_table(["Type", "Signer", "Created", "Record", "Result"],
                                          [[_e(s["predicateType"]), _e(s["signer"]), _e(s["created"]),
                                            _code(s["record"]), _result(s["result"], s["reason"])] for s in sigs])
                                   if sigs else _none("no signature"))
    out += "<h3>Attestations</h3>" + (_table(["Type", "Summary", "Signer", "Record", "Result"],
                                             [[_e(a["predicateType"]), _e(a.get("summary")), _e(a["signer"]),
                                               _code(a["record"]), _result(a["result"], a["reason"])] for a in atts])
                                      if atts else _none("no attestation"))
    return out + f'<p class="sub">Verified with: {_e(doc["verifiedWith"])}</p>'


def _approvals(doc: Mapping[str, Any]) -> str:
    rows = [[_e(a["stage"]), '<span class="ok">approve</span>' if a["decision"] == "approve"
             else '<span class="bad">reject</span>', _e(a["signer"]), _e(a["time"]), _e(a["comment"]),
             _code(a["record"])] for a in doc["approvals"]]
    return _table(["Stage", "Decision", "Signer", "Time", "Comment", "Record"], rows) if rows else \
        _none("no verified approval or rejection")


def _history(doc: Mapping[str, Any]) -> str:
    if not doc["history"]:
        return _none("no stage history")
    out = charts.timeline_svg(doc["history"], doc["subject"]["digest"])
    for h in doc["history"]:
        state = ("holds this model" if h["holdsThisModel"] else f"holds {h['current'] or 'nothing'}")
        warn = h.get("untracked") or h.get("problem")
        out += f"<h3>{_e(h['stage'])}: {_e(state)}</h3>"
        if warn:
            out += f'<p class="bad">{_e(warn)}</p>'
        if not h["signersVerified"]:
            out += '<p class="skip">links verified; signers not verified (no promoters named)</p>'
        out += _table(["#", "Time", "Action", "Model", "Signed by", "Reason", "Entry"],
                      [[_e(e["sequence"]), _e(e["time"]), _e(e["action"]), _code(e["model"]), _e(e["signer"]),
                        _e(e["reason"]), _code(e["entry"])] for e in h["entries"]])
    return out


def _deployments(doc: Mapping[str, Any]) -> str:
    dep = doc["deployments"]
    running = (_table(["Environment", "Since", "From stage", "Endpoint", "Replicas", "Signed by"],
                      [[_e(env), _e(d["time"]), _e(d["stage"] or "not in a stage"), _e(d["endpoint"]),
                        _e(d["replicas"]), _e(d["signer"])] for env, d in dep["running"].items()])
               if dep["running"] else _none("runs nowhere now"))
    events = (_table(["Time", "Event", "Environment", "From stage", "History entry", "Signed by"],
                     [[_e(d["time"]), _e(d["event"]), _e(d["environment"]), _e(d["stage"]), _code(d["historyEntry"]),
                       _e(d["signer"])] for d in dep["events"]]) if dep["events"] else _none("no deployment record"))
    return f"<h3>Runs now in</h3>{running}<h3>Deployment records</h3>{events}"


def _metrics(doc: Mapping[str, Any]) -> str:
    if not doc["metrics"]:
        return _none("no metrics")
    legend = ('<p class="legend">' + "".join(f'<span><i class="dot" style="background:{c}"></i>{_e(p)}</span>'
                                            for p, c in (("metadata", charts.PHASE_COLOURS["metadata"]),
                                                         ("production", charts.PHASE_COLOURS["production"]),
                                                         ("other evaluation", charts.OTHER_COLOUR)))
              + "<span>ringed: this model</span></p>")
    out = legend
    for name in dict.fromkeys(m["name"] for m in doc["metrics"]):
        points = [m for m in doc["metrics"] if m["name"] == name]
        out += f"<h3>{_e(name)}</h3>" + charts.metric_svg(name, points)
    return out + _table(["Time", "Version", "Phase", "Metric", "Value", "Source"],
                        [[_e(m["time"]), _e(m["version"]), _e(m["phase"]), _e(m["name"]), _e(f"{m['value']:g}"),
                          _code(m["source"])] for m in doc["metrics"]])


def _documents(doc: Mapping[str, Any]) -> str:
    rows = [[_e(d["type"]), _e(d["name"]), _e(d["mediaType"]), _e(_size(d["size"])), _code(d["digest"]),
             _e(d["signer"]), _result(d["result"], d["reason"])] for d in doc["documents"]]
    return _table(["Type", "Name", "Media type", "Size", "Digest", "Signed by", "Bytes"], rows) if rows else \
        _none("no attached document")


def _scan(doc: Mapping[str, Any]) -> str:
    scan = doc["scan"]
    head = ('<p class="ok">no file in a format whose loader can run code</p>' if scan["status"] == "clean"
            else '<p class="bad">files in formats whose loaders can run code</p>')
    rows = _table(["Path", "Finding"], [[_e(f["path"]), _e(f["reason"])] for f in scan["findings"]]) \
        if scan["findings"] else ""
    recs = _table(["Scanner record", "Signer", "Result"], [[_e(r["predicateType"]), _e(r["signer"]),
                                                            _result(r["result"], r["reason"])] for r in scan["records"]]) \
        if scan["records"] else _none("no signed scan record attached")
    return f'{head}<p class="sub">Method: {_e(scan["method"])}</p>{rows}{recs}'


def _policy(doc: Mapping[str, Any]) -> str:
    if not doc["policy"]:
        return _none("no policy given")
    out = ""
    for p in doc["policy"]:
        verdict = '<span class="ok">would be allowed</span>' if p["allowed"] else (
            '<span class="bad">refused</span>' if p["refused"] else '<span class="skip">needs the promoter</span>')
        out += f"<h3>{_e(p['stage'])}: {verdict}</h3>" + _table(
            ["Rule", "Result", "Reason", "Evidence"],
            [[_e(r["rule"]), _result(r["status"]), _e(r["reason"]), " ".join(_code(x) for x in r["evidence"])]
             for r in p["rules"]])
    return out


def _compliance(doc: Mapping[str, Any]) -> str:
    return ('<p class="sub">Where each section serves as evidence. A finding aid, not legal advice.</p>'
            + _table(["Section", "EU AI Act Annex IV", "NIST AI RMF 1.0"],
                     [[_e(c["title"]), _e(c["annexIV"]), _e(c["nist"])] for c in CLAUSES]))


_RENDER = {"model-card": _card, "files": _files, "lineage": _lineage, "signatures": _signed,
           "approvals": _approvals, "history": _history, "deployments": _deployments, "metrics": _metrics,
           "documents": _documents, "scan": _scan, "policy": _policy, "compliance": _compliance}


def render(doc: Mapping[str, Any]) -> str:
    s = doc["subject"]
    body = "".join(f'<section id="{key}"><h2>{_e(title)}</h2>{_RENDER[key](doc)}</section>' for key, title in SECTIONS)
    title = f"Audit report: {s['repository']}:{s.get('version') or ''}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{_e(title)}</h1>"
            f"<p class=\"sub\">{_code(s['digest'])} · {_e(_size(s['size']))} · generated {_e(doc['generated'])} "
            f"from the signed records in the registry</p></header>{body}</body></html>\n")
