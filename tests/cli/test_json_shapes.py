"""One JSON shape per command, pinned by golden files (spec/cli-json.md).

Every ``--json`` output is reduced to its shape (keys and value types, the first element of each list)
and compared with tests/cli/golden/shapes.json. Set MODELCRATE_UPDATE_GOLDEN=1 to rewrite the file
after an intended change, and say the change in spec/cli-json.md.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.registry import RegistryProcess

GOLDEN = Path(__file__).parent / "golden" / "shapes.json"
# Commands about one model: always "reference" and "digest".
MODEL_COMMANDS = {"pack", "inspect", "inspect (registry)", "inspect (deployments)", "digest", "tag", "unpack", "push", "push DIR", "pull",
                  "pull -o", "copy", "sign", "verify", "attest", "verify-attestation", "discover", "delete", "approve", "reject", "policy check",
                  "lineage"}


# Documents whose fields are specified elsewhere (spec/metadata.md, the predicate types): shape "object".
OPAQUE = {"metadata", "predicate"}


def shape(value: Any) -> Any:
    """Keys and value types; a list's elements merged into one shape (keys united, types joined by |)."""
    if isinstance(value, dict):
        return {k: "object" if k in OPAQUE and isinstance(v, dict) else shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        shapes = [shape(v) for v in value]
        return [_merge(shapes)] if shapes else []
    return {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}[type(value)]


def _merge(shapes: list[Any]) -> Any:
    if all(isinstance(s, dict) for s in shapes):
        keys = sorted({k for s in shapes for k in s})
        return {k: _merge([s[k] for s in shapes if k in s]) for k in keys}
    if all(isinstance(s, list) for s in shapes):
        inner = [s[0] for s in shapes if s]
        return [_merge(inner)] if inner else []
    return "|".join(sorted({part for s in shapes for part in str(s).split("|")}))


def _files_are_lists(value: Any, where: str) -> None:
    if isinstance(value, dict):
        if "files" in value:
            assert isinstance(value["files"], list), where
            assert all({"path"} <= set(f) for f in value["files"]), where
        for v in value.values():
            _files_are_lists(v, where)
    elif isinstance(value, list):
        for v in value:
            _files_are_lists(v, where)


def test_every_command_prints_its_one_shape(mc, example: Path, tmp_path: Path, registry: RegistryProcess,
                                            repo: str) -> None:
    outputs: dict[str, Any] = {}

    def run(name: str, *args: str, code: int = 0) -> Any:
        r = mc(*args, "--json")
        assert r.exit_code == code, (name, r.output)
        outputs[name] = json.loads(r.stdout)
        return outputs[name]

    fresh = tmp_path / "fresh"
    shutil.copytree(example, fresh)
    (fresh / "modelcrate.yaml").unlink()
    run("init", "init", str(fresh))
    remote = f"{registry.host}/{repo}"
    packed = run("pack", "pack", str(example), "-t", f"{remote}:1")
    run("list", "list")
    run("inspect", "inspect", f"{remote}:1")
    run("digest", "digest", f"{remote}:1")
    run("tag", "tag", f"{remote}:1", f"{remote}:2")
    run("unpack", "unpack", f"{remote}:1", str(tmp_path / "out"))
    run("push", "push", f"{remote}:1", "-q")
    run("push DIR", "push", str(example), f"{remote}:dir", "-q")
    run("inspect (registry)", "inspect", f"{remote}:dir")
    run("copy", "copy", f"{remote}:1", f"{remote}-copy:1", "-q")
    assert run("tags", "tags", remote) == ["1", "dir"]
    assert mc("keygen").exit_code == 0
    run("sign", "sign", f"{remote}:1", "--key", "modelcrate.key")
    run("verify", "verify", f"{remote}:1", "--key", "modelcrate.pub")
    run("attest", "attest", f"{remote}:1", "--type", "provenance", "--key", "modelcrate.key")
    run("verify-attestation", "verify-attestation", f"{remote}:1", "--type", "provenance", "--key", "modelcrate.pub")
    run("discover", "discover", f"{remote}:1")
    assert mc("deployment", "record", f"{remote}:1", "-e", "prod-eu", "--endpoint", "https://m.example",
              "--key", "modelcrate.key").exit_code == 0
    deployed = run("inspect (deployments)", "inspect", f"{remote}:1", "--remote", "--key", "modelcrate.pub")
    run("approve", "approve", f"{remote}:1", "--stage", "staging", "--key", "modelcrate.key")
    run("reject", "reject", f"{remote}:1", "--stage", "production", "--key", "modelcrate.key")
    run("policy check", "policy", "check", f"{remote}:1", "--stage", "staging")
    run("scan", "scan", str(example))
    run("diff", "diff", f"{remote}:1", f"{remote}:dir")
    run("lineage", "lineage", f"{remote}:1")
    _base_image(registry.host, f"{repo}-base")
    run("export", "export", "--modelcar", f"{remote}:1", f"{remote}:1-modelcar", "--base", f"{remote}-base:1")
    run("status", "status", remote, "--key", "modelcrate.pub")
    run("rm", "rm", f"{remote}:1", f"{remote}:2")
    run("pull", "pull", f"{remote}:1", "-q")
    run("pull -o", "pull", f"{remote}:1", "-o", str(tmp_path / "pulled"), "-q")
    run("df", "df")
    run("prune", "prune", "--dry-run")
    run("logout", "logout", registry.host)
    run("version", "version")
    run("delete", "delete", f"{remote}-copy@{packed['digest']}", "--force")
    run("error", "inspect", "nothing:here", code=3)
    refused = run("policy refused", "policy", "check", f"{remote}:1", "--stage", "production", "--policy",
                  str(_policy(tmp_path)), code=6)

    for name in MODEL_COMMANDS:
        assert {"reference", "digest"} <= set(outputs[name]), name
        _files_are_lists(outputs[name], name)
    assert outputs["pull"]["files"] == [{"path": f["path"], "size": f["size"]} for f in packed["files"]]
    assert [r["environment"] for r in deployed["deployments"]["records"]] == ["prod-eu"]
    assert outputs["inspect"]["deployments"] == {"verified": False, "claimed": 0, "omitted": 0, "records": []}
    assert all(set(f) == set(outputs["scan"]["files"][0]) for f in outputs["scan"]["files"])
    assert outputs["unpack"]["digest"] == packed["digest"] and outputs["unpack"]["reference"] == f"{remote}:1"
    assert outputs["error"] == {"error": {"message": "nothing:here is not in the local store",
                                          "hint": "see `modelcrate list`, or pull it first", "exit_code": 3}}
    assert all({"reference", "digest", "untagged"} <= set(r) for r in outputs["rm"])
    assert set(refused) == {"error"} and refused["error"]["exit_code"] == 6  # one document: the error object

    shapes = {name: shape(value) for name, value in sorted(outputs.items())}
    if os.environ.get("MODELCRATE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(shapes, indent=2, sort_keys=True) + "\n")
    assert shapes == json.loads(GOLDEN.read_text())


def _base_image(host: str, name: str) -> None:
    from modelcrate.content.remote import RegistryClient
    from tests.support.images import base_image

    client = RegistryClient(host)
    try:
        base_image(client.repository(name, push=True), {"bin/sh": b"not a shell"})
    finally:
        client.close()


def _policy(tmp_path: Path) -> Path:
    """A policy no model meets: production needs an approval from a key nobody holds."""
    from modelcrate.signing import keys

    pub = tmp_path / "nobody.pub"
    pub.write_bytes(keys.public_pem(keys.generate("ecdsa-p256")))
    path = tmp_path / "policy.yaml"
    path.write_text(f"version: 1\nstages:\n  staging: {{}}\n  production:\n    approvals: {{count: 1, keys: [{pub}]}}\n")
    return path


@pytest.mark.parametrize("args", [
    ["pack", "does-not-exist", "-t", "x:1"],
    ["rm", "nothing:1"],
    ["tag", "nothing:1", "x:2"],
    ["unpack", "nothing:1", "out"],
    ["pull", "Bad:Ref"],
    ["login", "localhost:1", "-u", "me", "--password-stdin"],
    ["verify", "nothing:1", "--key", "nope.pub"],  # a click usage error: still the error object
])
def test_a_failing_command_under_json_prints_the_error_object_on_stdout(mc, args: list[str]) -> None:
    r = mc(*args, "--json", input="pw\n")
    assert r.exit_code != 0
    error = json.loads(r.stdout)["error"]
    assert set(error) == {"message", "hint", "exit_code"} and error["exit_code"] == r.exit_code
    assert error["message"] and error["message"] in r.stderr


def test_without_json_a_failure_prints_nothing_on_stdout(mc) -> None:
    r = mc("inspect", "nothing:here")
    assert r.exit_code == 3 and r.stdout == "" and "not in the local store" in r.stderr
