"""inspect, digest, manifest, tag and delete on registry references: they read the manifest only (never a
blob), and tag/delete change the registry's names without pulling."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess


@pytest.fixture
def pushed(mc, example: Path, fault_proxy: FaultProxy, repo: str) -> Iterator[tuple[str, str, FaultProxy]]:
    """(reference on the registry behind a recording proxy, its digest, the proxy); nothing in the store."""
    ref = f"{fault_proxy.host}/{repo}:1"
    r = mc("push", str(example), ref, "-q")
    assert r.exit_code == 0, r.output
    fault_proxy.reset_stats()
    yield ref, r.stdout.strip(), fault_proxy


def _blob_requests(proxy: FaultProxy) -> list[str]:
    return [r.line for r in proxy.stats.requests if "/blobs/" in r.target]


def test_inspect_a_registry_reference_reads_only_the_manifest(mc, pushed) -> None:
    ref, digest, proxy = pushed
    r = mc("inspect", ref, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["digest"] == digest and info["remote"] is True and len(info["files"]) == 4
    assert info["metadata"]["name"] == "tiny-classifier"
    assert "Reference:" in mc("inspect", ref).stdout
    assert _blob_requests(proxy) == [] and proxy.stats.requests
    assert mc("list", "--json").stdout.strip() == "[]"  # nothing was pulled


def test_digest_and_manifest_are_one_head_and_one_get(mc, pushed) -> None:
    ref, digest, proxy = pushed
    r = mc("digest", ref)
    assert r.exit_code == 0 and r.stdout.strip() == digest
    assert [q.method for q in proxy.stats.requests if "/manifests/" in q.target] == ["HEAD"]
    proxy.reset_stats()
    raw = mc("manifest", ref).stdout_bytes
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    assert json.loads(raw)["layers"] and _blob_requests(proxy) == []


def test_local_names_are_read_locally_and_local_forces_the_store(mc, pushed) -> None:
    ref, digest, proxy = pushed
    r = mc("inspect", ref, "--local")
    assert r.exit_code == 3 and "not in the local store" in r.stderr and proxy.stats.requests == []
    assert mc("pull", ref, "-q").exit_code == 0
    proxy.reset_stats()
    assert json.loads(mc("inspect", ref, "--json").stdout)["remote"] is False
    assert proxy.stats.requests == []  # in the store: no request at all
    assert json.loads(mc("inspect", ref, "--remote", "--json").stdout)["remote"] is True


def test_tag_on_the_registry_without_pulling(mc, pushed, repo: str) -> None:
    ref, digest, proxy = pushed
    host = proxy.host
    r = mc("tag", ref, f"{host}/{repo}:stable", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"reference": f"{host}/{repo}:stable", "source": ref, "digest": digest,
                                    "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    assert [q.method for q in proxy.stats.requests if q.method in ("PUT", "POST")] == ["PUT"]
    assert _blob_requests(proxy) == []
    assert json.loads(mc("tags", f"{host}/{repo}", "--json").stdout) == ["1", "stable"]
    # another repository on the same registry: blobs are mounted, not moved through this machine
    proxy.reset_stats()
    assert mc("tag", ref, f"{host}/{repo}-other:1").exit_code == 0
    assert not [q for q in proxy.stats.requests if q.method == "GET" and "/blobs/" in q.target]
    assert mc("digest", f"{host}/{repo}-other:1").stdout.strip() == digest
    assert mc("list", "--json").stdout.strip() == "[]"
    r = mc("tag", ref, "local-name:1")
    assert r.exit_code == 2 and "names no registry" in r.stderr


def test_delete_by_digest_on_the_registry(mc, pushed, repo: str) -> None:
    ref, digest, proxy = pushed
    r = mc("delete", ref)  # no terminal: confirmation is required
    assert r.exit_code == 2 and "--force" in r.stderr and proxy.stats.requests == []
    r = mc("delete", ref, "--force", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"reference": f"{proxy.host}/{repo}@{digest}", "digest": digest, "deleted": True}
    assert [q.line.split()[1] for q in proxy.stats.requests if q.method == "DELETE"] == [
        f"/v2/{repo}/manifests/{digest}"]
    assert mc("digest", ref).exit_code == 3
    r = mc("delete", "local-only:1", "--force")
    assert r.exit_code == 2 and "modelcrate rm" in r.stderr


def test_delete_where_the_registry_refuses_says_so(mc, example: Path, registry_factory, repo: str) -> None:
    reg: RegistryProcess = registry_factory(extra_config={"storage": {"delete": {"enabled": False}}})
    ref = f"{reg.host}/{repo}:1"
    assert mc("push", str(example), ref, "-q").exit_code == 0
    r = mc("delete", ref, "--force")
    assert r.exit_code == 1 and "does not allow deleting manifests" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert mc("digest", ref).exit_code == 0
