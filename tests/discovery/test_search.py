"""search against a real registry:2: every filter and operator, stages, lineage, the incremental index."""

from __future__ import annotations

import fnmatch
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from modelcrate.content.remote import RegistryClient
from modelcrate.errors import NotFound
from modelcrate.index import search as S
from modelcrate.index.db import IndexDB
from modelcrate.index.sync import CatalogUnavailable
from tests.discovery.conftest import COUNT, FAST, FAST_CONFIG, STAGED, Populated, repo_of
from modelcrate.index.records import DEFAULT_STAGES as STAGE_NAMES
from tests.support.faultproxy import FaultProxy
from tests.support.models import metadata, push_model

pytestmark = pytest.mark.registry


def find(p: Populated, index: Path, scope: str | None = None, **kw: Any) -> set[str]:
    return {m.repository for m in S.search(scope or p.host, index=index, config=FAST_CONFIG, **kw)}


def expected(p: Populated, check) -> set[str]:
    """The same question answered directly from the metadata the fixture generated."""
    return {repo for repo, (meta, _d, tags) in p.models.items() if check(meta, tags)}


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "index.sqlite"


def test_cold_then_warm_refresh_fetches_each_manifest_once(populated: Populated, index: Path) -> None:
    with IndexDB(index) as db:
        cold = S.update(db, S.Scope(populated.host), config=FAST_CONFIG)
        assert (cold.repositories, cold.tags) == (COUNT + 3, sum(len(t) for _m, _d, t in populated.models.values()))
        assert cold.fetched == COUNT + 3 and cold.reused == 0  # reused: known before this refresh
        warm = S.update(db, S.Scope(populated.host), config=FAST_CONFIG)
        assert warm.fetched == 0 and warm.reused == warm.tags == cold.tags


def test_a_moved_stage_tag_is_seen_without_fetching_again(registry_factory, index: Path) -> None:
    reg = registry_factory()
    client = RegistryClient(reg.host, FAST)
    try:
        repo = client.repository("moving/model", push=True)
        one = push_model(repo, metadata(1, version="1.0.0"), ["1.0.0", "production"])
        two = push_model(repo, metadata(2, version="2.0.0"), ["2.0.0"])
        with IndexDB(index) as db:
            first = S.update(db, S.Scope(reg.host), config=FAST_CONFIG)
            assert (first.fetched, db.tags_of(reg.host, "moving/model")["production"]) == (2, one.digest)
            repo.tag(two, "production")
            moved = S.update(db, S.Scope(reg.host), config=FAST_CONFIG)
            assert moved.fetched == 0 and moved.reused == 3
            assert db.tags_of(reg.host, "moving/model")["production"] == two.digest
            hits = S.query(db, S.Scope(reg.host), filters=S.Filters(stage="production"))
            assert [(m.digest, m.version, m.stages) for m in hits] == [(two.digest, "2.0.0", ("production",))]
            # a version tag is taken as immutable: rewriting it in place needs --recheck to be seen
            repo.tag(two, "1.0.0")
            assert db.tags_of(reg.host, "moving/model")["1.0.0"] == one.digest
            S.update(db, S.Scope(reg.host), config=FAST_CONFIG)
            assert db.tags_of(reg.host, "moving/model")["1.0.0"] == one.digest
            S.update(db, S.Scope(reg.host), config=FAST_CONFIG, recheck=True)
            assert db.tags_of(reg.host, "moving/model")["1.0.0"] == two.digest
            three = push_model(client.repository("moving/other", push=True), metadata(3), ["1.0"])
            added = S.update(db, S.Scope(reg.host), config=FAST_CONFIG)
            assert (added.repositories, added.fetched) == (2, 1)
            assert db.tags_of(reg.host, "moving/other") == {"1.0": three.digest}
    finally:
        client.close()


@pytest.mark.parametrize("filters,check", [
    (S.Filters(framework="pytorch"), lambda m, t: m.get("framework") == "pytorch"),
    (S.Filters(format="gguf"), lambda m, t: m.get("format") == "gguf"),
    (S.Filters(license="MIT"), lambda m, t: m.get("license", "").lower() == "mit"),
    (S.Filters(task="text-generation"), lambda m, t: m.get("pipeline_tag") == "text-generation"),
    (S.Filters(tags=("batch-3",)), lambda m, t: "batch-3" in m.get("tags", [])),
    (S.Filters(tags=("generated", "batch-3")), lambda m, t: "batch-3" in m.get("tags", [])),
    (S.Filters(author="author-1"), lambda m, t: "author-1" in m.get("authors", [])),
    (S.Filters(owner="team-2"), lambda m, t: "team-2" in m.get("owners", [])),
    (S.Filters(stage="production"), lambda m, t: "production" in t),
    (S.Filters(stage="dev"), lambda m, t: "dev" in t),
    (S.Filters(created_before="2025-03-01"), lambda m, t: m["created"] < "2025-03-01"),
    (S.Filters(created_after="2025-11-01"), lambda m, t: m["created"] >= "2025-11-01"),
    (S.Filters(name="model-001*"), lambda m, t: fnmatch.fnmatchcase(m["name"], "model-001*")),
    (S.Filters(text="SENTIMENT number"), lambda m, t: "sentiment" in m.get("description", "")),
    (S.Filters(uses_dataset="https://example.com/data-1.parquet"),
     lambda m, t: any(d.get("uri") == "https://example.com/data-1.parquet" for d in m["lineage"].get("datasets", []))),
    (S.Filters(license="mit", framework="transformers"),
     lambda m, t: m.get("license", "").lower() == "mit" and m.get("framework") == "transformers"),
])
def test_each_filter(populated: Populated, index: Path, filters: S.Filters, check) -> None:
    want = expected(populated, check)
    assert want, "the generated models must include a match, or the test proves nothing"
    assert want != set(populated.models), "and a non-match"
    assert find(populated, index, filters=filters) == want


def _accuracy(m: dict[str, Any]) -> float:
    return next(x["value"] for x in m["metrics"] if x["name"] == "accuracy")


@pytest.mark.parametrize("where,check", [
    ("metrics.accuracy >= 0.8", lambda m, t: _accuracy(m) >= 0.8),
    ("metrics.accuracy >= 0.6 and (license = 'mit' or license = 'apache-2.0')",
     lambda m, t: _accuracy(m) >= 0.6 and m["license"].lower() in ("mit", "apache-2.0")),
    ("not framework = 'pytorch' and stages = 'production'",
     lambda m, t: m["framework"] != "pytorch" and "production" in t),
    ("stages in ('staging', 'dev') or metrics.f1 > 0.77", lambda m, t: bool({"staging", "dev"} & set(t))
     or next(x["value"] for x in m["metrics"] if x["name"] == "f1") > 0.77),
    ("repository ~ 'team-a' and format != 'gguf'", lambda m, t: False),  # placeholder replaced below
    ("lineage.base_model", lambda m, t: bool(m.get("lineage", {}).get("base_model"))),
])
def test_where_expressions(populated: Populated, index: Path, where: str, check) -> None:
    if where.startswith("repository"):
        check = lambda m, t: m["name"] in {populated.models[r][0]["name"] for r in populated.models  # noqa: E731
                                           if r.startswith("team-a")} and m["format"] != "gguf"
    want = expected(populated, check)
    assert want and want != set(populated.models)
    assert find(populated, index, where=where) == want


def test_results_carry_reference_digest_version_stages_and_matched_fields(populated: Populated,
                                                                          index: Path) -> None:
    hits = S.search(populated.host, index=index, config=FAST_CONFIG, where="metrics.accuracy > 0", sort="-metrics.accuracy",
                    filters=S.Filters(stage="staging"))
    assert [m.repository for m in hits] == sorted((repo_of(i) for i, s in STAGED.items() if "staging" in s),
                                                  key=lambda r: -_accuracy(populated.models[r][0]))
    top = hits[0]
    meta, desc, tags = populated.models[top.repository]
    assert top.reference == f"{populated.host}/{top.repository}:{meta['version']}"
    assert top.digest == desc.digest and top.version == meta["version"] and set(top.tags) == set(tags)
    assert top.stages == tuple(s for s in ("dev", "staging", "production") if s in tags)
    assert top.matched == {"stages": list(top.stages), "metrics.accuracy": _accuracy(meta)}


def test_sort_ascending_descending_and_limit(populated: Populated, index: Path) -> None:
    up = S.search(populated.host + "/team-a", index=index, config=FAST_CONFIG, sort="metrics.f1")
    values = [m.record["metrics"]["f1"] for m in up]
    assert values == sorted(values) and len(up) == COUNT // 2
    down = S.search(populated.host, index=index, config=FAST_CONFIG, offline=True, sort="-created", limit=3)
    created = sorted((m["created"] for m, _d, _t in populated.models.values()), reverse=True)[:3]
    assert [m.record["created"] for m in down] == created


def test_impact_analysis_derived_from_is_recursive(populated: Populated, index: Path) -> None:
    base = f"{populated.host}/lineage/base"
    assert find(populated, index, filters=S.Filters(derived_from=base + ":1.0")) == {"lineage/ft", "lineage/ft2"}
    assert find(populated, index, filters=S.Filters(derived_from=base)) == {"lineage/ft", "lineage/ft2"}
    assert find(populated, index, filters=S.Filters(derived_from=base + ":2.0")) == set()
    ft = populated.models["lineage/ft"][1]
    assert find(populated, index, filters=S.Filters(derived_from=f"{populated.host}/lineage/ft:1.0")) == {"lineage/ft2"}
    assert find(populated, index, filters=S.Filters(derived_from=f"{populated.host}/lineage/ft@{ft.digest}")) == \
        {"lineage/ft2"}
    hits = S.search(populated.host, index=index, config=FAST_CONFIG, offline=True,
                    filters=S.Filters(uses_dataset="s3://bucket/incident.parquet"))
    assert [(m.repository, m.stages) for m in hits] == [("lineage/ft2", ())]


def test_prefix_scope_and_offline_everything(populated: Populated, index: Path) -> None:
    assert find(populated, index, populated.host + "/lineage") == {"lineage/base", "lineage/ft", "lineage/ft2"}
    assert find(populated, index, None, offline=True) == {"lineage/base", "lineage/ft", "lineage/ft2"}
    assert len(find(populated, index, populated.host)) == COUNT + 3


def test_catalog_disabled(populated: Populated, index: Path, run_cli, tmp_path: Path) -> None:
    with FaultProxy(populated.registry.port) as proxy:
        proxy.inject(404, r"^GET /v2/_catalog", times=1000,
                     body=b'{"errors":[{"code":"UNSUPPORTED","message":"catalog disabled"}]}')
        with pytest.raises(CatalogUnavailable) as info:
            S.search(proxy.host, index=index, config=FAST_CONFIG)
        message = info.value.diagnostics()
        assert "does not list its repositories" in message and "--repositories" in message
        # a repository named directly still works without the catalog
        assert find(populated, index, f"{proxy.host}/{repo_of(7)}") == {repo_of(7)}
        # so does a list of repositories
        assert find(populated, index, proxy.host, repositories=[repo_of(1), repo_of(2)]) == {repo_of(1), repo_of(2)}
        with pytest.raises(NotFound):
            S.search(f"{proxy.host}/no/such-repo", index=index, config=FAST_CONFIG)
        assert all(r.injected == 404 for r in proxy.stats.requests if "_catalog" in r.target)
        env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
        r = run_cli("search", proxy.host, env=env)
        assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
        assert "does not list its repositories" in r.stderr
        (tmp_path / "repos.txt").write_text(f"# the repositories we serve\n{repo_of(3)}\n\n{repo_of(4)}\n")
        r = run_cli("search", proxy.host, "--repositories", str(tmp_path / "repos.txt"), "--json", env=env)
        assert r.returncode == 0, r.stderr
        assert {m["repository"] for m in json.loads(r.stdout)} == {repo_of(3), repo_of(4)}


def test_the_index_never_reads_a_blob(populated: Populated, index: Path) -> None:
    with FaultProxy(populated.registry.port) as proxy:
        S.search(proxy.host, index=index, config=FAST_CONFIG)
        lines = [r.line for r in proxy.stats.requests]
        proxy.reset_stats()
        S.search(proxy.host, index=index, config=FAST_CONFIG)
        warm = [r.line for r in proxy.stats.requests]
    assert lines and not [x for x in lines if "/blobs/" in x]
    # cold: each new tag is one GET that also brings its manifest (no HEAD, no second GET for the digest)
    all_tags = sum(len(tags) for _m, _d, tags in populated.models.values())
    manifests = [x for x in lines if "/manifests/" in x]
    assert len(manifests) == all_tags and all(x.startswith("GET ") for x in manifests)
    # warm: the catalog, one tag list per repository, a HEAD per stage tag, and nothing else
    stage_tags = sum(1 for _m, _d, tags in populated.models.values() for t in tags if t in STAGE_NAMES)
    assert sorted(x.split()[0] for x in warm) == sorted(["GET"] * (1 + COUNT + 3) + ["HEAD"] * stage_tags)


def test_index_file_is_sqlite_with_rows(populated: Populated, index: Path) -> None:
    S.search(populated.host, index=index, config=FAST_CONFIG, limit=1)
    with sqlite3.connect(index) as c:
        assert c.execute("SELECT COUNT(*) FROM manifests WHERE model = 1").fetchone()[0] == COUNT + 3


def test_cli_search(populated: Populated, run_cli, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    r = run_cli("search", populated.host, "--where", "metrics.accuracy >= 0.8", "--json", env=env)
    assert r.returncode == 0, r.stderr
    got = {m["repository"] for m in json.loads(r.stdout)}
    assert got == expected(populated, lambda m, t: _accuracy(m) >= 0.8)
    assert (tmp_path / "xdg" / "modelcrate" / "index.sqlite").is_file()
    r = run_cli("search", "--offline", "--stage", "production", "--sort", "-metrics.accuracy", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["REFERENCE", "DIGEST", "VERSION", "STAGES"]
    assert len(lines) == 1 + len(expected(populated, lambda m, t: "production" in t))
    r = run_cli("search", populated.host, "--offline", "--where", "metrics.accuracy >= and x", env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "column 21" in r.stderr
