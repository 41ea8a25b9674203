"""The report rendered by a real browser (headless Chromium, offline): every section heading is laid out,
has a size, and the screenshot is not blank where each section is drawn."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from modelcrate.report import api as report_api

from .conftest import World
from .test_events import _story

CHROMIUM = os.environ.get("MODELCRATE_CHROMIUM", "/usr/bin/chromium")
WIDTH, HEIGHT = 1280, 4000
SECTIONS = ("model-card", "files", "lineage", "signatures", "approvals", "history", "deployments", "metrics",
            "documents", "scan", "policy", "compliance")
# Test-only: records where each section was laid out, for the screenshot check (the report has no script).
PROBE = """<script>addEventListener('load', () => { for (const s of document.querySelectorAll('section')) {
  const r = s.getBoundingClientRect(), h = s.querySelector('h2').getBoundingClientRect();
  s.dataset.box = JSON.stringify([r.left, r.top, r.width, r.height, h.height]); } });</script>"""


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={tmp / 'profile'}", f"--window-size={WIDTH},{HEIGHT}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "HOME": str(tmp)})


def _boxes(dom: str) -> dict[str, list[float]]:
    found = {}
    for match in re.finditer(r'<section id="([a-z-]+)" data-box="([^"]+)"', dom):
        found[match.group(1)] = json.loads(match.group(2).replace("&quot;", '"'))
    return found


def test_report_renders_in_chromium(local_world: World, tmp_path: Path) -> None:
    from PIL import Image

    world = local_world
    gate, _ = _story(world, tmp_path)
    page = report_api.render(report_api.build(f"{world.name}:1.0.0", gate=gate, ctx=world.ctx()), "html")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    dom = _chromium(["--dump-dom", probe.as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for title in ("Model card", "Lineage", "Signatures and attestations", "Approvals", "Stage history",
                  "Deployments", "Metrics over time", "Attached documents", "Policy evaluation",
                  "Compliance mapping"):
        assert f"<h2>{title}</h2>" in dom.stdout
    boxes = _boxes(dom.stdout)
    assert set(boxes) == set(SECTIONS)
    assert all(b[2] > 600 and b[3] > 30 and b[4] > 10 for b in boxes.values()), boxes
    tops = [boxes[s][1] for s in SECTIONS]
    assert tops == sorted(tops)  # in reading order

    shot = tmp_path / "report.png"
    page_file = tmp_path / "report.html"
    page_file.write_text(page)
    taken = _chromium([f"--screenshot={shot}", page_file.as_uri()], tmp_path)
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    image = Image.open(shot).convert("L")
    assert image.size == (WIDTH, HEIGHT)
    for name, (left, top, width, height, _) in boxes.items():
        if top + 40 > HEIGHT:
            continue  # below the screenshot's fold
        region = image.crop((int(left), int(top), int(left + width), int(min(top + height, HEIGHT))))
        dark = sum(region.histogram()[:160])  # pixels darker than the page background and its tints
        assert dark > 200, f"section {name} looks blank in the screenshot"
    keep = os.environ.get("MODELCRATE_REPORT_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
