"""diff and lineage from manifests alone, across registry:2 and the local store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcrate import compare, lineage_graph as lineage
from modelcrate.content.layout import LocalStore
from modelcrate.content.remote import RegistryClient
from modelcrate.format.diff import diff as diff_views
from modelcrate.format.model import read_model
from modelcrate.config import Config as Settings
from tests.discovery.conftest import FAST, FAST_CONFIG, Populated
from tests.support.faultproxy import FaultProxy
from tests.support.models import metadata, push_model

BIG = b"w" * 5000


def _pair(target) -> tuple:
    old = push_model(target, metadata(1, version="1.0.0"), ["1.0.0", "production"],
                     files={"model.safetensors": BIG, "config.json": b"{}", "old.txt": b"gone"})
    meta = metadata(1, version="1.1.0", license="MIT")
    meta["metrics"][0]["value"] = 0.75
    meta["metrics"].append({"name": "bleu", "value": 0.3})
    new = push_model(target, meta, ["1.1.0", "staging"],
                     files={"model.safetensors": BIG + b"more", "config.json": b"{}", "new.txt": b"hello"})
    return old, new


def _check(d) -> None:
    paths = {c.path: (c.old, c.new) for c in d.metadata}
    assert paths["version"] == ("1.0.0", "1.1.0") and paths["license"] == ("Apache-2.0", "MIT")
    assert "name" not in paths and not any(p.startswith("metrics") for p in paths)
    files = {f.path: f for f in d.files}
    assert set(files) == {"model.safetensors", "old.txt", "new.txt"} and d.unchanged_files == 1
    assert files["model.safetensors"].kind == "changed" and files["model.safetensors"].size_delta == 4
    assert files["old.txt"].kind == "removed" and files["new.txt"].kind == "added"
    metrics = {m.name: m for m in d.metrics}
    assert metrics["accuracy"].old == 0.51 and metrics["accuracy"].delta == pytest.approx(0.24)
    assert metrics["bleu"].old is None and metrics["bleu"].delta is None
    assert {c.path: (c.old, c.new) for c in d.extra}["stages"] == (["production"], ["staging"])


@pytest.mark.registry
def test_diff_registry(populated: Populated, run_cli) -> None:
    with FaultProxy(populated.registry.port) as proxy:
        client = RegistryClient(proxy.host, FAST)
        try:
            old, new = _pair(client.repository("diff/model", push=True))
        finally:
            client.close()
        proxy.reset_stats()
        a, b = f"{proxy.host}/diff/model:1.0.0", f"{proxy.host}/diff/model:1.1.0"
        _check(compare.diff(a, b, config=FAST_CONFIG))
        assert not [r for r in proxy.stats.requests if "/blobs/" in r.line], "no weights are downloaded"
        r = run_cli("diff", a, b, "--json")
        same = run_cli("diff", a, a)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["old"], out["new"], out["sizeDelta"]) == (old.digest, new.digest, 4 + 5 - 4)
    assert "identical" in same.stdout


def test_diff_local_and_pure(store: LocalStore, settings: Settings) -> None:
    old, new = _pair(store.repository("diff/local"))
    _check(compare.diff("diff/local:1.0.0", "diff/local:1.1.0", config=settings))
    same = diff_views(read_model(store.read_small(old)), read_model(store.read_small(old)))
    assert same.identical and not same.files and not same.metadata and not same.metrics


@pytest.mark.registry
def test_lineage_follows_bases(populated: Populated, run_cli) -> None:
    ref = f"{populated.host}/lineage/ft2:1.0"
    root = lineage.lineage(ref, config=FAST_CONFIG)
    assert root.digest == populated.models["lineage/ft2"][1].digest and root.relation == "quantized"
    assert root.datasets[0].uri == "s3://bucket/incident.parquet"
    assert root.base and root.base.digest == populated.models["lineage/ft"][1].digest
    assert root.base.stages == ("production",) and root.base.relation == "finetune"
    assert root.base.base and root.base.base.digest == populated.models["lineage/base"][1].digest
    assert root.base.base.base is None
    r = run_cli("lineage", ref, "--json")
    assert json.loads(r.stdout)["base"]["base"]["reference"] == f"{populated.host}/lineage/base:1.0"
    r = run_cli("lineage", ref)
    assert r.returncode == 0 and "quantized of:" in r.stdout and "finetune of:" in r.stdout
    r = run_cli("lineage", ref, "--dot")
    assert r.stdout.startswith("digraph") and '-> "s3://bucket/incident.parquet"' in r.stdout


def test_lineage_unreachable_base_is_shown_not_fatal(store: LocalStore, settings: Settings) -> None:
    push_model(store.repository("lin/child"), metadata(1, lineage={"base_model": "lin/missing:1"}), ["1"])
    root = lineage.lineage("lin/child:1", local=True, config=settings)
    assert root.base is not None and root.base.digest is None and "not" in (root.base.problem or "")
    push_model(store.repository("lin/base"), metadata(2), ["1"])
    push_model(store.repository("lin/child2"), metadata(3, lineage={"base_model": "lin/base:1"}), ["1"])
    # base models named without a registry are local-store names
    assert lineage.lineage("lin/child2:1", config=settings).base.name == "model-0002"  # type: ignore[union-attr]
    unfollowed = lineage.lineage("lin/child2:1", follow=False, config=settings).base
    assert unfollowed is not None and unfollowed.problem == "not followed"


@pytest.mark.registry
def test_lineage_with_verified_provenance(populated: Populated, run_cli, tmp_path: Path) -> None:
    ref = f"{populated.host}/lineage/ft2:1.0"
    env = {"MODELCRATE_KEY_PASSWORD": "pw"}
    assert run_cli("keygen", env=env, cwd=tmp_path).returncode == 0
    r = run_cli("attest", ref, "--type", "provenance", "--key", "modelcrate.key", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run_cli("lineage", ref, "--key", "modelcrate.pub", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    uris = {d.get("uri") for d in out["provenance"]}
    assert "s3://bucket/incident.parquet" in uris and out["provenanceProblem"] is None
    assert out["base"]["provenance"] is None and "no" in out["base"]["provenanceProblem"]  # ft was never attested
    text = run_cli("lineage", ref, "--key", "modelcrate.pub", cwd=tmp_path).stdout
    assert "attested dataset s3://bucket/incident.parquet" in text and "provenance not verified" in text
