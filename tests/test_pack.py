"""pack: reproducible digests, layer planning, tar layers and modelfile errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from modelcrate import api, packing as pack
from modelcrate.content.layout import LocalStore
from modelcrate.errors import InvalidModelfile, NotFound, UsageError
from modelcrate.format.model import read_model
from modelcrate.settings import Settings

from tests.conftest import EXAMPLE, ROOT
from tests.support.artifacts import write_model


def test_example_weights_are_reproduced_by_their_script(tmp_path: Path) -> None:
    copy = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", copy)
    (copy / "tiny-classifier" / "model.safetensors").unlink()
    subprocess.run([sys.executable, str(copy / "make_tiny_model.py")], check=True, capture_output=True)
    assert (copy / "tiny-classifier" / "model.safetensors").read_bytes() == (EXAMPLE / "model.safetensors").read_bytes()


def test_pack_twice_gives_the_same_digest_even_after_touch(example: Path, tmp_path: Path) -> None:
    first = api.pack(example, "m:1", config=Settings(tmp_path / "h1"))
    for f in example.iterdir():
        os.utime(f, (1_000_000_000, 1_000_000_000))
    second = api.pack(example, "m:1", config=Settings(tmp_path / "h2"))
    assert first.descriptor.digest == second.descriptor.digest


def test_digest_ignores_umask_and_location(example: Path, tmp_path: Path) -> None:
    first = api.pack(example, "m:1", config=Settings(tmp_path / "h1"))
    moved = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(example, moved)
    for f in moved.iterdir():
        f.chmod(0o600)
    assert api.pack(moved, "m:1", config=Settings(tmp_path / "h2")).descriptor == first.descriptor


def test_created_from_source_date_epoch(example: Path, tmp_path: Path) -> None:
    mf = example / "modelcrate.yaml"
    mf.write_text(mf.read_text().replace('created: "2025-01-01T00:00:00Z"\n', ""))
    plain = api.pack(example, "m:1", config=Settings(tmp_path / "a"))
    assert "created" not in plain.view.metadata
    epoch = api.pack(example, "m:1", config=Settings(tmp_path / "b", source_date_epoch="1700000000"))
    assert epoch.view.metadata["created"] == "2023-11-14T22:13:20Z"
    assert epoch.view.manifest.annotations["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    again = api.pack(example, "m:1", config=Settings(tmp_path / "c"))
    assert again.descriptor == plain.descriptor  # no clock: still reproducible without a date
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        api.pack(example, "m:1", config=Settings(tmp_path / "d", source_date_epoch="yesterday"))


def test_layers_sorted_by_path_with_modes(example: Path, settings: Settings) -> None:
    (example / "predict.py").chmod(0o700)
    view = api.pack(example, "m:1", config=settings).view
    assert [f.path for f in view.files] == ["README.md", "config.json", "model.safetensors", "predict.py"]
    assert [f.kind for f in view.files] == ["doc", "weight.config", "weight", "code"]
    assert {f.path: f.mode for f in view.files}["predict.py"] == 0o755
    assert {f.path: f.mode for f in view.files}["README.md"] == 0o644
    for f in view.files:
        assert f.descriptor.digest == "sha256:" + __import__("hashlib").sha256((example / f.path).read_bytes()).hexdigest()
        assert json.loads(f.descriptor.annotations["org.cncf.model.file.metadata+json"]) == {
            "mode": f.mode, "size": f.descriptor.size}


def _write(root: Path, files: dict[str, bytes], yaml_files: str) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "modelcrate.yaml").write_text(f"name: m\nversion: '1'\nfiles:\n{yaml_files}")
    return root


def test_globs_directories_and_first_rule_wins(tmp_path: Path, settings: Settings) -> None:
    d = _write(tmp_path / "m", {"a.bin": b"1", "sub/b.bin": b"2", "sub/c.json": b"3", "docs/x.md": b"4"},
               "  - {path: 'sub/c.json', kind: weight.config}\n  - {path: '*.bin', kind: weight}\n"
               "  - {path: '*.json', kind: doc}\n  - {path: docs, kind: doc}\n")
    view = api.pack(d, "m:1", config=settings).view
    assert {f.path: f.kind for f in view.files} == {
        "a.bin": "weight", "sub/b.bin": "weight", "sub/c.json": "weight.config", "docs/x.md": "doc"}


def test_archived_directory_is_one_deterministic_tar(tmp_path: Path, store: LocalStore, settings: Settings) -> None:
    d = _write(tmp_path / "m", {"w.bin": b"w", "tok/vocab.txt": b"v" * 1000, "tok/sub/merges.txt": b"m"},
               "  - {path: w.bin, kind: weight}\n  - {path: tok/, kind: weight.config, archive: true}\n")
    (d / "tok" / "vocab.txt").chmod(0o755)
    view = api.pack(d, "m:1", config=settings).view
    tar_layer = [f for f in view.files if f.format == "tar"][0]
    assert tar_layer.path == "tok" and tar_layer.descriptor.media_type.endswith("weight.config.v1.tar")
    with tarfile.open(store.blob_path(tar_layer.descriptor.digest)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["tok/sub/merges.txt", "tok/vocab.txt"]
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "" for m in members)
    assert [m.mode for m in members] == [0o644, 0o755]
    os.utime(d / "tok" / "vocab.txt", (5, 5))
    again = api.pack(d, "m:2", config=Settings(tmp_path / "other")).view
    assert again.manifest.digest == view.manifest.digest


@pytest.mark.parametrize(
    "yaml_files, message",
    [
        ("  - {path: missing.bin, kind: weight}\n", "line 4: 'missing.bin' matches no file"),
        ("  - {path: '*.gguf', kind: weight}\n", "matches no file"),
        ("  - {path: ../outside, kind: weight}\n", "must be relative"),
        ("  - {path: /etc/passwd, kind: weight}\n", "must be relative"),
        ("  - {path: a.bin, kind: weight, archive: true}\n", "is not a directory"),
    ],
)
def test_plan_errors(tmp_path: Path, yaml_files: str, message: str) -> None:
    d = _write(tmp_path / "m", {"a.bin": b"1"}, yaml_files)
    with pytest.raises(InvalidModelfile, match=message):
        pack.plan(d)


def test_missing_modelfile_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found") as err:
        pack.plan(tmp_path)
    assert "modelcrate init" in err.value.diagnostics()


def test_interrupted_pack_leaves_no_tag(example: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelcrate.format import model

    def boom(*a, **k):  # fail after the layers were stored, before the manifest
        raise KeyboardInterrupt

    monkeypatch.setattr(pack, "build_model_manifest", boom)
    with pytest.raises(KeyboardInterrupt):
        api.pack(example, "m:1")
    store = LocalStore(home)
    assert store.entries() == []
    assert list((home / "ingest").iterdir()) == []
    assert store.gc()[0] >= 4  # the orphaned layers are collectable
    assert model.build_model_manifest is not boom


def test_stage_matches_pack_without_storing(example: Path, store: LocalStore, settings: Settings) -> None:
    src, desc = pack.stage(pack.plan(example))
    packed = api.pack(example, "m:1", config=settings)
    assert desc == packed.descriptor
    with src.fetch(desc) as f:
        assert read_model(f.read()).manifest.raw == packed.view.manifest.raw
    assert src.resolve(desc.digest) == desc
    # a source directory holds one artifact: any other name (e.g. the referrers fallback tag) is absent
    for other in ("latest", "sha256-" + desc.digest.split(":")[1], "sha256:" + "0" * 64):
        with pytest.raises(NotFound):
            src.resolve(other)


def test_globs_skip_the_modelfile_and_hidden_files(tmp_path: Path, settings: Settings) -> None:
    d = _write(tmp_path / "m", {"a.bin": b"1", ".secret": b"2", ".git/config": b"3"}, "  - {path: '*', kind: weight}\n")
    view = api.pack(d, "m:1", config=settings).view
    assert [f.path for f in view.files] == ["a.bin"]


def test_too_many_layers_refused_before_storing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _write(tmp_path / "m", {f"f{i}.bin": b"x" for i in range(3)}, "  - {path: '*.bin', kind: weight}\n")
    monkeypatch.setattr(pack, "MAX_LAYERS", 2)
    with pytest.raises(InvalidModelfile, match="over the limit"):
        pack.plan(d)


def test_reserved_tag_refused(example: Path, settings: Settings) -> None:
    from modelcrate.errors import InvalidReference

    with pytest.raises(InvalidReference, match="reserved"):
        api.pack(example, "m:sha256-" + "a" * 64, config=settings)


def test_files_are_packed_side_by_side_with_the_same_result(tmp_path: Path, store: LocalStore) -> None:
    files = {f"shard-{i}.safetensors": os.urandom(50_000 + i) for i in range(4)}
    root = write_model(tmp_path / "m", files)
    p = pack.plan(root)
    one = pack.pack(p, store.repository("one"), "1", concurrency=1)

    # Each ingest waits at a barrier for a second one: sequential packing would break it (and fail).
    repo = store.repository("four")
    barrier = threading.Barrier(2, timeout=10)
    inner = repo.ingest_file

    def ingest_file(path: str, media_type: str, on_bytes=None):
        barrier.wait()
        return inner(path, media_type, on_bytes)

    repo.ingest_file = ingest_file  # type: ignore[method-assign]
    four = pack.pack(p, repo, "1", concurrency=4)
    assert four.manifest == one.manifest  # same bytes, layers in plan order
    staged, desc = pack.stage(p, concurrency=4)
    assert desc == one.descriptor


def test_a_failing_file_fails_the_pack_and_tags_nothing(tmp_path: Path, store: LocalStore) -> None:
    root = write_model(tmp_path / "m", {f"w{i}.bin": os.urandom(10_000) for i in range(4)})
    p = pack.plan(root)
    (root / "w2.bin").unlink()  # vanishes between planning and packing
    with pytest.raises(OSError):
        pack.pack(p, store.repository("m"), "1", concurrency=4)
    assert not list(store.entries())
