"""Generate the sample audit report for the example model (examples/report/report.html and report.png).

Walks the lifecycle on a throw-away local store with fresh keys and a fixed clock: pack two versions, sign,
attest evaluations, approve, attach a validation report, promote through staging to production, deploy,
record production monitoring, roll back; then writes the report (and, when Debian's chromium is installed,
a screenshot of it).

    python examples/report/generate.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from modelcrate import api, lifecycle, signatures
from modelcrate.config import Config
from modelcrate.lifecycle.policy_gate import PolicyGate
from modelcrate.report import api as report_api
from modelcrate.signing import keys
from modelcrate.signing.approval import APPROVAL_V1, approval_predicate
from modelcrate.tracking import api as tracking

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "tiny-classifier"
POLICY = """\
stages:
  staging:
    promoters: [{key: keys/alice.pub}, {key: keys/bob.pub}]
  production:
    from: [staging]
    signatures: [{key: keys/release.pub}]
    attesters: [{key: keys/release.pub}, {key: keys/monitor.pub}]
    attestations: [https://modelcrate.dev/evaluation/v1]
    metrics: ["accuracy >= 0.9", "accuracy >= production.accuracy - 0.02"]
    documents: [validation-report]
    approvals: {count: 2, keys: [keys/alice.pub, keys/bob.pub, keys/carol.pub], distinct_from_signer: true}
    promoters: [{key: keys/alice.pub}, {key: keys/bob.pub}]
    licenses: [apache-2.0, mit]
environments:
  prod-eu: {stage: production}
"""


class Story:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        self.config = Config(work / "home", source_date_epoch=str(int(self.now.timestamp()) - 86400))
        (work / "keys").mkdir()
        self.keys = {n: keys.generate("ecdsa-p256") for n in ("release", "alice", "bob", "carol", "monitor")}
        for n, k in self.keys.items():
            (work / "keys" / f"{n}.pub").write_bytes(keys.public_pem(k))
        (work / "policy.yaml").write_text(POLICY)
        self.gate = PolicyGate.load(str(work / "policy.yaml"))
        self.name = "demo/tiny-classifier"

    def signer(self, who: str) -> signatures.KeySigner:
        return signatures.KeySigner(self.keys[who])

    def ctx(self) -> lifecycle.Context:
        self.now += timedelta(minutes=37)
        return lifecycle.Context(self.config, None, self.now)

    def target(self):
        return api.open_store(self.config).repository(self.name)

    def release(self, version: str, accuracy: float) -> None:
        src = self.work / f"src-{version}"
        shutil.copytree(EXAMPLE, src)
        text = (src / "modelcrate.yaml").read_text().replace("version: 1.0.0", f"version: {version}")
        (src / "modelcrate.yaml").write_text(re.sub(r"name: accuracy, value: [0-9.]+",
                                                    f"name: accuracy, value: {accuracy}", text))
        desc = api.pack(src, f"{self.name}:{version}", config=self.config).descriptor
        ref = f"{self.name}:{version}"
        signatures.sign(self.target(), desc, self.name, self.signer("release"), created=self.ctx().now)
        evaluation = {"created": self.ctx().now.strftime("%Y-%m-%dT%H:%M:%SZ"), "phase": "pre-release",
                      "metrics": [{"name": "accuracy", "value": accuracy, "dataset": "toy-sentiment", "split": "test"}]}
        signatures.attest(self.target(), desc, self.name, self.signer("release"), "evaluation", evaluation,
                          created=self.now)
        for who in ("bob", "carol"):
            ctx = self.ctx()
            predicate = approval_predicate(stage="production", decision="approve", subject_digest=desc.digest,
                                           actor=self.signer(who).description, time=ctx.now,
                                           comment="reviewed the validation report")
            signatures.attach_record(self.target(), desc, self.name, self.signer(who), APPROVAL_V1, predicate,
                                     created=ctx.now)
        tracking.attach(ref, HERE / "validation-report.md", doc_type="validation-report",
                        signer=self.signer("release"), ctx=self.ctx())
        lifecycle.promote(ref, to="staging", signer=self.signer("alice"), reason="release candidate",
                          gate=self.gate, ctx=self.ctx())
        lifecycle.promote(ref, to="production", signer=self.signer("alice"), reason=f"CAB-{version}",
                          gate=self.gate, ctx=self.ctx())
        tracking.record_deployment(ref, environment="prod-eu", signer=self.signer("bob"),
                                   endpoint="https://tiny.prod-eu.example/v1", replicas=3, gate=self.gate,
                                   ctx=self.ctx())

    def monitor(self, version: str, values: list[float]) -> None:
        desc = self.target().resolve(version)
        for i, value in enumerate(values):
            end = self.ctx().now
            predicate = {"created": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "phase": "production",
                         "window": {"start": (end - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
                         "metrics": [{"name": "accuracy", "value": value, "dataset": "live-traffic"}]}
            signatures.attest(self.target(), desc, self.name, self.signer("monitor"), "evaluation", predicate,
                              created=end)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        story = Story(Path(tmp))
        story.release("1.0.0", 0.94)
        story.monitor("1.0.0", [0.935, 0.93])
        story.release("1.1.0", 0.95)
        story.monitor("1.1.0", [0.91, 0.89])
        lifecycle.rollback(story.name, stage="production", signer=story.signer("bob"), reason="accuracy drop in prod-eu",
                           gate=story.gate, ctx=story.ctx())
        tracking.record_deployment(f"{story.name}:1.0.0", environment="prod-eu", signer=story.signer("bob"),
                                   endpoint="https://tiny.prod-eu.example/v1", replicas=3, gate=story.gate,
                                   ctx=story.ctx())
        doc = report_api.build(f"{story.name}:1.0.0", gate=story.gate, ctx=story.ctx())
        page = report_api.render(doc, "html").replace(tmp, "<tmp>")
        (HERE / "report.html").write_text(page)
        chromium = shutil.which("chromium")
        if chromium:
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp}/profile",
                            f"--screenshot={HERE / 'report.png'}", "--window-size=1280,2400",
                            (HERE / "report.html").as_uri()], check=True, capture_output=True, timeout=180)
    print(HERE / "report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
