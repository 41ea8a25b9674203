"""The audit report over the whole lifecycle story: the JSON against its schema, the HTML self-contained
(no external URL in any src, href or url()) and escaped, the Markdown, and the evidence bundle re-verified
from the OCI layout alone."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from modelcrate.content.layout import LocalStore
from modelcrate.lifecycle.reader import read_history
from modelcrate.report import api as report_api
from modelcrate.signatures import SIGNATURE_TYPE, collect_records
from modelcrate.signing.approval import APPROVAL_V1
from modelcrate.signing.deployment import DEPLOYMENT_V1
from modelcrate.tracking import attachments

from .conftest import World
from .test_events import _story

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("model-card", "files", "lineage", "signatures", "approvals", "history", "deployments", "metrics",
            "documents", "scan", "policy", "compliance")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for key, value in attrs:
            if key in ("src", "href", "xlink:href", "action", "srcset", "poster", "data") and value is not None:
                self.urls.append(value)
            if key == "style" and value:
                self.urls += re.findall(r"url\(([^)]*)\)", value)
            if key == "id":
                self.ids.append(value)
            if key in ("marker-end", "fill", "stroke") and value and "url(" in value:
                self.urls += re.findall(r"url\(([^)]*)\)", value)

    def handle_data(self, data):
        if self.lasttag == "style":
            self.urls += re.findall(r"url\(([^)]*)\)", data)
            assert "@import" not in data


def _external(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.strip().strip("'\"").startswith("#")]


def check_self_contained(page: str) -> _Collect:
    parser = _Collect()
    parser.feed(page)
    assert _external(parser.urls) == [], parser.urls
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    return parser


@pytest.fixture
def story(world: World, tmp_path):
    gate, (v1, v2) = _story(world, tmp_path)
    return world, gate, v1, v2


def test_report_of_the_story(story, tmp_path) -> None:
    world, gate, v1, v2 = story
    world.clock.tick()
    doc = report_api.build(f"{world.name}:1.0.0", gate=gate, ctx=world.ctx())
    jsonschema.validate(json.loads(report_api.render(doc, "json")), report_api.schema())
    assert json.loads((ROOT / "spec" / "report.schema.json").read_text()) == report_api.schema()
    assert doc["subject"]["digest"] == v1.digest and doc["subject"]["version"] == "1.0.0"
    assert {s["result"] for s in doc["signatures"]} == {"verified"} and doc["signatures"]
    assert [a["decision"] for a in doc["approvals"]] == ["approve", "approve"]
    production = next(h for h in doc["history"] if h["stage"] == "production")
    assert production["holdsThisModel"] and [e["action"] for e in production["entries"]] == \
        ["promote", "promote", "rollback"]
    assert doc["deployments"]["events"][0]["stage"] == "production"
    assert doc["deployments"]["running"] == {}  # 1.1.0 replaced it in prod-eu
    assert [d["type"] for d in doc["documents"]] == ["validation-report"] and doc["documents"][0]["result"] == "verified"
    assert {m["version"] for m in doc["metrics"]} == {"1.0.0", "1.1.0"}
    prod_policy = next(p for p in doc["policy"] if p["stage"] == "production")
    assert any(r["rule"] == "document validation-report" and r["status"] == "pass" for r in prod_policy["rules"])
    assert doc["scan"]["status"] == "clean"
    assert {c["section"] for c in doc["compliance"]} >= set(SECTIONS) - {"compliance"}

    page = report_api.render(doc, "html")
    parser = check_self_contained(page)
    assert [i for i in parser.ids if i in SECTIONS] == list(SECTIONS)
    md = report_api.render(doc, "markdown")
    assert "## Stage history" in md and "rollback" in md and "Annex IV" in md


def test_hostile_strings_are_escaped(local_world: World, tmp_path) -> None:
    world = local_world
    world.pack("6.6.6")
    doc = report_api.build(f"{world.name}:6.6.6", verifier=world.verifier("release"), ctx=world.ctx())
    doc["modelCard"]["description"] = '<script>alert(1)</script><img src="https://evil.example/x.png">'
    doc["modelCard"]["risks"] = "</style><link rel=stylesheet href=https://evil.example/c.css>"
    doc["lineage"]["datasets"].append({"name": '"><svg onload=x>', "uri": "javascript:alert(1)", "digest": None,
                                       "split": None})
    page = report_api.render(doc, "html")
    check_self_contained(page)
    assert "<script>" not in page and "&lt;script&gt;" in page
    md = report_api.render(doc, "markdown")
    assert "<script>" not in md


def test_bundle_reverifies_offline(story, tmp_path) -> None:
    world, gate, v1, v2 = story
    out = tmp_path / "evidence"
    report_api.build(f"{world.name}:1.0.0", gate=gate, ctx=world.ctx(), bundle=out)
    assert (out / "oci-layout").exists() and (out / "index.json").exists()
    # A third party: only the layout and the public keys.
    layout = LocalStore(out).repository(world.repo)
    desc = layout.resolve("1.0.0")
    assert desc.digest == v1.digest
    signed = collect_records(layout, desc, world.repo, world.verifier("release"), predicate_type=SIGNATURE_TYPE)
    assert signed.records and not signed.rejected
    approvals = collect_records(layout, desc, world.repo, world.verifier("bob", "carol"), predicate_type=APPROVAL_V1)
    assert len(approvals.records) == 2
    deployed = collect_records(layout, desc, world.repo, world.verifier("bob"), predicate_type=DEPLOYMENT_V1)
    assert len(deployed.records) == 1
    [doc] = attachments.attachments_of(layout, desc, world.repo, world.verifier("release"))
    assert attachments.document_bytes(layout, doc) == b"# Validation\n"
    history = read_history(layout, "production", world.verifier("alice", "bob"))
    assert [e.promotion.action for e in history.entries] == ["promote", "promote", "rollback"]
    assert history.current == v1.digest
    report = json.loads((out / "report.json").read_text())
    assert report["subject"]["digest"] == v1.digest


def test_the_committed_sample_report_is_self_contained() -> None:
    page = (ROOT / "examples" / "report" / "report.html").read_text()
    parser = check_self_contained(page)
    assert [i for i in parser.ids if i in SECTIONS] == list(SECTIONS)
    assert (ROOT / "examples" / "report" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
