"""``verify`` shows only times the signature vouches for: the referrer's ``org.opencontainers.image.created``
annotation is written by whoever pushed the referrer, so it is labelled unsigned (and a backdated one
cannot pass for the signing time); a time inside the verified statement is shown as signed."""

from __future__ import annotations

import json
from pathlib import Path

from .test_sigops_cli import mc, signed_example  # noqa: F401 - fixtures


def test_verify_labels_the_annotation_time_unsigned(mc, signed_example: str) -> None:  # noqa: F811
    assert mc("sign", signed_example, "--key", "modelcrate.key").exit_code == 0
    r = mc("verify", signed_example, "--key", "modelcrate.pub", "--json")
    bundle = next(v for v in json.loads(r.stdout)["verified"] if v["kind"] == "bundle")
    assert bundle["created"] is None and bundle["claimedCreated"]  # the empty signature predicate states none
    text = mc("verify", signed_example, "--key", "modelcrate.pub").stdout
    line = next(ln for ln in text.splitlines() if "signature by" in ln)
    assert f"created {bundle['claimedCreated']} (unsigned)" in line


def test_verify_shows_the_statement_time_as_signed(mc, signed_example: str) -> None:  # noqa: F811
    Path("eval.json").write_text(json.dumps({"created": "2026-01-01T00:00:00Z", "metrics": [
        {"name": "accuracy", "value": 0.75, "dataset": "holdout"}]}))
    assert mc("attest", signed_example, "--type", "evaluation", "--predicate", "eval.json",
              "--key", "modelcrate.key").exit_code == 0
    r = mc("verify-attestation", signed_example, "--type", "evaluation", "--key", "modelcrate.pub")
    assert r.exit_code == 0, r.output
    assert "signed 2026-01-01T00:00:00Z" in r.stdout and "(unsigned)" not in r.stdout
