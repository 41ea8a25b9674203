"""Re-runs and housekeeping: pull -o / unpack run again skip files already in place (by digest), --include
reaches into tar layers, a filter that matches nothing is an error, rm NAME@DIGEST names its tags, and
prune/df account for the store's space."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelcrate.content.layout import LocalStore
from tests.support.faultproxy import FaultProxy

YAML = """name: grouped
version: 1.0.0
created: '2025-01-01T00:00:00Z'
files:
  - {path: model.safetensors, kind: weight}
  - {path: tokenizer, kind: weight.config, archive: true}
  - {path: README.md, kind: doc}
"""


@pytest.fixture
def grouped(tmp_path: Path) -> Path:
    """A model with a tar layer (the tokenizer directory) next to raw files."""
    root = tmp_path / "grouped"
    (root / "tokenizer").mkdir(parents=True)
    (root / "model.safetensors").write_bytes(os.urandom(50_000))
    (root / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (root / "tokenizer" / "merges.txt").write_text("a b\n")
    (root / "README.md").write_text("# grouped\n")
    (root / "modelcrate.yaml").write_text(YAML)
    return root


def test_pull_o_run_again_skips_identical_files_and_refuses_changed_ones(
        mc, grouped: Path, fault_proxy: FaultProxy, repo: str, tmp_path: Path) -> None:
    ref = f"{fault_proxy.host}/{repo}:1"
    assert mc("push", str(grouped), ref, "-q").exit_code == 0
    out = tmp_path / "out"
    first = mc("pull", ref, "-o", str(out), "-q", "--json")
    assert first.exit_code == 0, first.output
    fault_proxy.reset_stats()
    again = mc("pull", ref, "-o", str(out), "-q", "--json")
    assert again.exit_code == 0, again.output  # was: "… exists"
    assert json.loads(again.stdout)["files"] == json.loads(first.stdout)["files"]
    assert (json.loads(again.stdout)["copied"], json.loads(again.stdout)["skipped"]) == (0, 4)
    weight_gets = [r for r in fault_proxy.stats.requests if r.method == "GET" and "/blobs/" in r.target]
    assert len(weight_gets) == 1  # only the tar layer is read again (to compare its members); no raw file
    (out / "model.safetensors").write_bytes(b"changed")
    r = mc("pull", ref, "-o", str(out), "-q")
    assert r.exit_code == 1 and "exists with other content" in r.stderr and "--force" in r.stderr
    assert (out / "model.safetensors").read_bytes() == b"changed"
    assert mc("pull", ref, "-o", str(out), "-q", "--force").exit_code == 0
    assert (out / "model.safetensors").read_bytes() == (grouped / "model.safetensors").read_bytes()


def test_unpack_include_matches_files_inside_tar_layers(mc, grouped: Path, tmp_path: Path) -> None:
    assert mc("pack", str(grouped), "-t", "g:1").exit_code == 0
    out = tmp_path / "out"
    r = mc("unpack", "g:1", str(out), "--include", "tokenizer/vocab.txt", "--json")
    assert r.exit_code == 0, r.output
    assert [f["path"] for f in json.loads(r.stdout)["files"]] == ["tokenizer/vocab.txt"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["tokenizer/vocab.txt"]
    whole = mc("unpack", "g:1", str(tmp_path / "whole"), "--include", "tokenizer")
    assert whole.exit_code == 0 and (tmp_path / "whole" / "tokenizer" / "merges.txt").exists()


@pytest.mark.parametrize("args", [["--include", "nothing/*"], ["--filter", "dataset"],
                                  ["--include", "tokenizer/nothing.txt"]])
def test_a_filter_that_matches_nothing_is_an_error(mc, grouped: Path, tmp_path: Path, args: list[str]) -> None:
    assert mc("pack", str(grouped), "-t", "g:1").exit_code == 0
    r = mc("unpack", "g:1", str(tmp_path / "out"), *args)
    assert r.exit_code == 2 and "no file of the model matches --filter/--include" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_filter_accepts_the_kind_aliases_of_the_modelfile(mc, grouped: Path, tmp_path: Path) -> None:
    assert mc("pack", str(grouped), "-t", "g:1").exit_code == 0
    r = mc("unpack", "g:1", str(tmp_path / "out"), "--filter", "weights", "--filter", "docs", "--json")
    assert r.exit_code == 0, r.output
    assert sorted(f["path"] for f in json.loads(r.stdout)["files"]) == ["README.md", "model.safetensors"]


def test_rm_name_at_digest_names_every_tag_it_removed(mc, example: Path) -> None:
    digest = mc("pack", str(example), "-t", "m:1").stdout.strip()
    assert mc("tag", "m:1", "m:2").exit_code == 0
    assert mc("pack", str(example), "-t", "other:1").exit_code == 0
    r = mc("rm", f"m@{digest}")
    assert r.exit_code == 0
    assert "untagged m:1" in r.stderr and "untagged m:2" in r.stderr
    assert [x["reference"] for x in json.loads(mc("list", "--json").stdout)] == ["other:1"]


def test_df_and_prune_account_for_untagged_content_and_leftovers(mc, example: Path, home: Path) -> None:
    digest = mc("pack", str(example), "-t", "m:1").stdout.strip()
    store = LocalStore(home)
    orphan = store.repository("m").ingest_stream(__import__("io").BytesIO(b"x" * 1000), "application/octet-stream")
    (home / "ingest" / "blob-killedrun").write_bytes(b"y" * 300)  # a killed pack's temporary file
    usage = json.loads(mc("df", "--json").stdout)
    assert [(r["name"], r["models"]) for r in usage["repositories"]] == [("m", 1)]
    assert usage["reclaimable"] == 1300 and usage["leftovers"] == 1
    assert "REPOSITORY" in mc("df").stdout

    dry = json.loads(mc("prune", "--dry-run", "--json").stdout)
    assert (dry["blobs"], dry["bytes"], dry["leftovers"], dry["freed"]) == (1, 1000, 1, 1300)
    assert store.has_blob(orphan.digest) and (home / "ingest" / "blob-killedrun").exists()
    done = json.loads(mc("prune", "--json").stdout)
    assert done["freed"] == 1300 and not store.has_blob(orphan.digest)
    assert not (home / "ingest" / "blob-killedrun").exists()
    assert store.has_blob(digest)  # the tagged model is untouched
    assert json.loads(mc("df", "--json").stdout)["reclaimable"] == 0


def test_prune_untagged_drops_manifests_kept_by_digest(mc, example: Path, home: Path) -> None:
    digest = mc("pack", str(example), "-t", "m:1").stdout.strip()
    LocalStore(home).repository("m").keep(LocalStore(home).repository("m").resolve("1"))
    assert mc("rm", "m:1").exit_code == 0
    assert json.loads(mc("list", "--json").stdout)[0]["reference"] == f"m@{digest}"
    r = json.loads(mc("prune", "--json").stdout)
    assert r["untagged"] == [] and LocalStore(home).has_blob(digest)
    r = json.loads(mc("prune", "--untagged", "--json").stdout)
    assert r["untagged"] == [f"m@{digest}"] and r["blobs"] >= 6
    assert json.loads(mc("list", "--json").stdout) == [] and not LocalStore(home).has_blob(digest)
