"""The lifecycle commands as a user runs them (the installed console script, the local store, real keys)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


PASSWORD = {"MODELCRATE_KEY_PASSWORD": "pw-for-tests"}


@pytest.fixture
def keyset(tmp_path: Path, run_cli) -> Path:
    for name in ("alice", "bob", "release"):
        r = run_cli("keygen", "--output-key-prefix", str(tmp_path / name), env=PASSWORD)
        assert r.returncode == 0, r.stderr
    return tmp_path


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_promote_history_resolve_deprecate_retire(run_cli, example: Path, keyset: Path, home: Path) -> None:
    alice, bob = str(keyset / "alice.key"), str(keyset / "bob.key")
    readers = ["--key", str(keyset / "alice.pub"), "--key", str(keyset / "bob.pub")]
    v1 = _ok(run_cli("pack", str(example), "-t", "demo/clf:1.0.0"))
    _ok(run_cli("sign", "demo/clf:1.0.0", "--key", str(keyset / "release.key"), env=PASSWORD))
    out = _ok(run_cli("promote", "demo/clf:1.0.0", "--to", "staging", "--key", alice, "--reason", "smoke",
                      env=PASSWORD))
    assert out == f"demo/clf@{v1}"
    promoted = json.loads(_ok(run_cli("promote", "demo/clf:staging", "--to", "production", "--key", bob, "--json",
                                      env=PASSWORD)))
    assert promoted["action"] == "promote" and promoted["sequence"] == 1 and promoted["to"] == v1

    assert _ok(run_cli("resolve", "demo/clf:production", *readers)) == f"demo/clf@{v1}"
    text = _ok(run_cli("history", "demo/clf", *readers))
    assert "staging: 1 records (signers verified)" in text and "smoke" in text
    doc = json.loads(_ok(run_cli("history", "demo/clf", "--stage", "production", "--json", *readers)))
    [prod] = doc["stages"]
    assert prod["entries"][0]["signer"].startswith("key ") and prod["untracked"] is None
    at = _ok(run_cli("history", "demo/clf", "--stage", "production", "--at", "2099-01-01T00:00:00Z", *readers))
    assert f"production at 2099-01-01T00:00:00Z: demo/clf@{v1}" in at
    early = _ok(run_cli("history", "demo/clf", "--stage", "production", "--at", "2000-01-01T00:00:00Z", *readers))
    assert "no record yet" in early

    _ok(run_cli("deprecate", "demo/clf:1.0.0", "--reason", "superseded", "--key", alice, env=PASSWORD))
    r = run_cli("resolve", "demo/clf:1.0.0", *readers)
    assert r.returncode == 0 and "deprecated: superseded" in r.stderr

    retired = json.loads(_ok(run_cli("retire", "demo/clf:1.0.0", "--key", alice, "--delete", "--reason", "CVE",
                                     "--json", env=PASSWORD)))
    assert sorted(a["stage"] for a in retired["stages"]) == ["production", "staging"] and retired["deleted"]
    r = run_cli("resolve", "demo/clf:production", *readers)
    assert r.returncode == 6 and "empty" in r.stderr
    # The history still proves what production held.
    doc = json.loads(_ok(run_cli("history", "demo/clf", "--stage", "production", "--json", *readers)))
    assert [e["action"] for e in doc["stages"][0]["entries"]] == ["promote", "retire"]
    assert doc["stages"][0]["entries"][1]["model"] == v1
    status = json.loads(_ok(run_cli("status", "demo/clf", "--json", *readers)))
    assert status["versions"] == [] and {s["stage"] for s in status["stages"]} == {"staging", "production"}


def test_status_lists_versions_with_claims(run_cli, example: Path, keyset: Path) -> None:
    v1 = _ok(run_cli("pack", str(example), "-t", "demo/st:1.0.0"))
    _ok(run_cli("sign", "demo/st:1.0.0", "--key", str(keyset / "release.key"), env=PASSWORD))
    _ok(run_cli("promote", "demo/st:1.0.0", "--to", "dev", "--key", str(keyset / "alice.key"), env=PASSWORD))
    table = _ok(run_cli("status", "demo/st"))
    assert "1.0.0" in table and v1[7:19] in table and "1 claimed" in table and "dev" in table
    verified = json.loads(_ok(run_cli("status", "demo/st", "--json", "--key", str(keyset / "release.pub"))))
    [row] = verified["versions"]
    assert row["signatures"] and row["verified"] and row["stages"] == []  # dev's promoter is not release
    [dev] = verified["stages"]
    assert "not signed by an allowed promoter" in dev["problem"]


def test_an_untracked_move_fails_resolve(run_cli, example: Path, keyset: Path, home: Path) -> None:
    _ok(run_cli("pack", str(example), "-t", "demo/um:1.0.0"))
    yaml = example / "modelcrate.yaml"
    yaml.write_text(yaml.read_text().replace("version: 1.0.0", "version: 2.0.0"))
    v2 = _ok(run_cli("pack", str(example), "-t", "demo/um:2.0.0"))
    _ok(run_cli("promote", "demo/um:1.0.0", "--to", "production", "--key", str(keyset / "alice.key"), env=PASSWORD))
    _ok(run_cli("tag", "demo/um:2.0.0", "demo/um:production"))  # a plain retag, no record
    r = run_cli("resolve", "demo/um:production", "--key", str(keyset / "alice.pub"))
    assert r.returncode == 6 and "untracked move" in r.stderr and v2 in r.stderr
    r = run_cli("history", "demo/um", "--key", str(keyset / "alice.pub"))
    assert r.returncode == 0 and "untracked move" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["history", "demo/x", "--at", "yesterday", "--key", "{pub}"], "not an ISO 8601 time"),
    (["history", "demo/x", "--at", "2026-01-01T00:00:00", "--key", "{pub}"], "no time zone"),
    (["history", "demo/x:1.0"], "without a tag"),
    (["promote", "demo/x:1.0", "--to", "_history.prod", "--key", "{key}"], "not a valid stage name"),
    (["rollback", "demo/x", "--stage", "production", "--key", "{key}"], "no earlier model"),
    (["history", "demo/x", "--stage", "production"], "needs the promoters' keys"),
])
def test_refusals_are_one_line(run_cli, keyset: Path, args: list[str], message: str) -> None:
    args = [a.format(pub=keyset / "alice.pub", key=keyset / "alice.key") for a in args]
    r = run_cli(*args, env=PASSWORD)
    assert r.returncode != 0
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
