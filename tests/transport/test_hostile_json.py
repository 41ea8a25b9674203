"""A pusher stores a manifest nested 5,000 levels deep: pull, pull -o and copy end with one clear error
line and exit 1, never a RecursionError (exit 70)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.support.artifacts import write_model

DEPTH = 5_000  # past CPython's recursion limit, within Go's (the registry parses it too)


def _put_deep_manifest(registry, repo: str, model_ref: str, run_cli) -> str:
    digest = run_cli("push", *model_ref).stdout.strip()
    get = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/{digest}",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(get) as resp:
        manifest = json.loads(resp.read())
    raw = json.dumps(manifest).encode()[:-1] + b', "x": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"
    req = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/deep", data=raw, method="PUT",
                                 headers={"Content-Type": manifest["mediaType"]})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 201
    return f"{registry.host}/{repo}:deep"


def test_a_deeply_nested_manifest_is_one_error_line_not_a_crash(registry, repo: str, run_cli, tmp_path: Path,
                                                                docker_config: Path) -> None:
    root = write_model(tmp_path / "m", {"w.bin": b"weights"})
    deep = _put_deep_manifest(registry, repo, (str(root), f"{registry.host}/{repo}:1"), run_cli)
    for argv in (["pull", deep], ["pull", deep, "-o", str(tmp_path / "out")],
                 ["copy", deep, f"{registry.host}/{repo}/copy:1"]):
        done = run_cli(*argv)
        assert done.returncode == 1, (argv, done.returncode, done.stderr[-500:])
        assert "nested more than" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()
