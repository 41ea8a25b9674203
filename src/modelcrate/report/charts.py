"""Inline SVG for the report: the lineage graph, the stage-history timeline and metric charts. Pure; every
string drawn is escaped (it comes from records and metadata anyone with write access could have written)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

PHASE_COLOURS = {"metadata": "#6b7280", "production": "#b45309"}
OTHER_COLOUR = "#1d4ed8"
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _clip(text: str | None, n: int = 38) -> str:
    text = text or ""
    return escape(text if len(text) <= n else text[: n - 1] + "…")


def _box(x: int, y: int, w: int, label: str, sub: str, fill: str) -> str:
    return (f'<rect x="{x}" y="{y}" width="{w}" height="40" rx="6" fill="{fill}" stroke="#374151"/>'
            f'<text x="{x + 8}" y="{y + 17}" {_FONT} font-weight="600">{_clip(label, w // 7)}</text>'
            f'<text x="{x + 8}" y="{y + 32}" {_FONT} fill="#374151">{_clip(sub, w // 7)}</text>')


def _edge(x1: int, y1: int, x2: int, y2: int) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#6b7280" stroke-width="1.5" marker-end="url(#arrow)"/>'


_ARROW = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
          'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs>')


def lineage_svg(lineage: Mapping[str, Any], subject: Mapping[str, Any], running: Mapping[str, Any]) -> str:
    """Inputs (base model, datasets, code) → the model → the environments it runs in."""
    inputs = []
    if lineage.get("baseModel"):
        inputs.append(("base model (" + (lineage.get("relation") or "derived") + ")", lineage["baseModel"]))
    for d in lineage.get("datasets") or []:
        inputs.append((f"dataset {d.get('name')}", d.get("digest") or d.get("uri") or ""))
    if lineage.get("code"):
        code = lineage["code"]
        inputs.append(("training code", f"{code.get('repository') or ''} @ {(code.get('commit') or '')[:12]}"))
    envs = [(f"runs in {env}", f"since {d.get('time')}") for env, d in running.items()]
    rows = max(len(inputs), len(envs), 1)
    height = rows * 56 + 16
    mid = height // 2 - 20
    parts = [_ARROW]
    for i, (label, sub) in enumerate(inputs):
        y = 8 + i * 56
        parts += [_box(8, y, 300, label, sub, "#eef2ff"), _edge(308, y + 20, 388, mid + 20)]
    parts.append(_box(390, mid, 300, f"{subject.get('repository')}:{subject.get('version') or ''}",
                      subject.get("digest") or "", "#dcfce7"))
    for i, (label, sub) in enumerate(envs):
        y = 8 + i * 56
        parts += [_edge(690, mid + 20, 770, y + 20), _box(772, y, 250, label, sub, "#fef3c7")]
    return (f'<svg role="img" aria-label="lineage graph" viewBox="0 0 1030 {height}" '
            f'width="100%" height="{height}">' + "".join(parts) + "</svg>")


def _when(text: str | None) -> float:
    try:
        return datetime.fromisoformat(text or "").timestamp()
    except ValueError:
        return 0.0


def timeline_svg(history: Sequence[Mapping[str, Any]], digest: str) -> str:
    """One row per stage; a mark per history entry, filled where the entry put this model in the stage."""
    entries = [(h["stage"], e) for h in history for e in h["entries"]]
    if not entries:
        return ""
    times = [_when(e["time"]) for _, e in entries]
    lo, hi = min(times), max(times)
    span = (hi - lo) or 1.0
    height = len(history) * 44 + 30
    parts = []
    for row, h in enumerate(history):
        y = 24 + row * 44
        parts.append(f'<text x="8" y="{y + 4}" {_FONT} font-weight="600">{_clip(h["stage"], 16)}</text>'
                     f'<line x1="130" y1="{y}" x2="1010" y2="{y}" stroke="#d1d5db"/>')
        for e in h["entries"]:
            x = 140 + (_when(e["time"]) - lo) / span * 860
            mine = e["model"] == digest
            parts.append(f'<circle cx="{x:.1f}" cy="{y}" r="7" fill="{"#15803d" if mine else "#ffffff"}" '
                         f'stroke="#15803d" stroke-width="2"><title>{escape(e["action"])} #{e["sequence"]} '
                         f'{escape(e["time"])} by {escape(e["signer"])}</title></circle>'
                         f'<text x="{x:.1f}" y="{y + 22}" text-anchor="middle" {_FONT}>{escape(e["action"])} '
                         f'#{e["sequence"]}</text>')
    return (f'<svg role="img" aria-label="stage history timeline" '
            f'viewBox="0 0 1030 {height}" width="100%" height="{height}">' + "".join(parts) + "</svg>")


def metric_svg(name: str, points: Sequence[Mapping[str, Any]]) -> str:
    """One metric over time and versions: a point per value (colour by phase), this model's ringed."""
    if not points:
        return ""
    values = [float(p["value"]) for p in points]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad
    width, height, left, top, bottom = 1030, 220, 70, 20, 40
    plot_w, plot_h = width - left - 20, height - top - bottom
    step = plot_w / max(len(points) - 1, 1)

    def y_of(v: float) -> float:
        return top + (hi - v) / (hi - lo) * plot_h

    parts = [f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#9ca3af"/>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 20}" y2="{top + plot_h}" stroke="#9ca3af"/>',
             f'<text x="8" y="{top + 8}" {_FONT}>{hi:.4g}</text>',
             f'<text x="8" y="{top + plot_h}" {_FONT}>{lo:.4g}</text>']
    production = [(left + i * step, y_of(float(p["value"]))) for i, p in enumerate(points) if p["phase"] == "production"]
    if len(production) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in production)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{PHASE_COLOURS["production"]}" stroke-width="1.5"/>')
    for i, p in enumerate(points):
        x, y = left + i * step, y_of(float(p["value"]))
        colour = PHASE_COLOURS.get(p["phase"], OTHER_COLOUR)
        ring = ' stroke="#111827" stroke-width="2"' if p.get("thisModel") else ""
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"{ring}><title>{escape(str(p["version"]))} '
                     f'{escape(p["phase"])} {float(p["value"]):g} {escape(p.get("time") or "")}</title></circle>'
                     f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" {_FONT}>'
                     f'{_clip(str(p["version"]), 10)}</text>')
    return (f'<svg role="img" aria-label="{escape(name)} over time" '
            f'viewBox="0 0 {width} {height}" width="100%" height="{height}">' + "".join(parts) + "</svg>")
