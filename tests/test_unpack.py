"""unpack: byte-identical round trips and one test per hostile artifact (nothing written on refusal)."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from modelcrate import api
from modelcrate.content.layout import LocalStore
from modelcrate.errors import AlreadyExists, DigestMismatch, InvalidManifest, SizeMismatch, UnsafePath
from modelcrate.settings import Settings
from modelcrate.unpack import safe_relpath, unpack

from tests.support.artifacts import Layer, link, put_model, reg, tar_bytes


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_round_trip_is_byte_identical_and_keeps_exec_bit(example: Path, tmp_path: Path, settings: Settings) -> None:
    (example / "predict.py").chmod(0o755)
    api.pack(example, "m:1", settings=settings)
    out = tmp_path / "out"
    result = api.unpack("m:1", out, settings=settings)
    expected = {k: v for k, v in tree(example).items() if k != "modelcrate.yaml"}
    assert tree(out) == expected
    assert os.access(out / "predict.py", os.X_OK) and not os.access(out / "README.md", os.X_OK)
    assert sorted(p for p, _ in result.files) == sorted(expected)


def test_filter_and_include(example: Path, tmp_path: Path, settings: Settings) -> None:
    api.pack(example, "m:1", settings=settings)
    api.unpack("m:1", tmp_path / "w", kinds=("weight", "weight.config"), settings=settings)
    assert sorted(tree(tmp_path / "w")) == ["config.json", "model.safetensors"]
    api.unpack("m:1", tmp_path / "d", include=("*.md",), settings=settings)
    assert sorted(tree(tmp_path / "d")) == ["README.md"]


def test_existing_files_need_force(example: Path, tmp_path: Path, settings: Settings) -> None:
    api.pack(example, "m:1", settings=settings)
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("mine")
    with pytest.raises(AlreadyExists, match="README.md exists"):
        api.unpack("m:1", out, settings=settings)
    assert tree(out) == {"README.md": b"mine"}  # refused before anything was written
    api.unpack("m:1", out, force=True, settings=settings)
    assert (out / "README.md").read_bytes() == (example / "README.md").read_bytes()


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape", "a/../../escape", "a\\..\\b", "", "x\x00y", "C:/win", "./.", "//"])
def test_safe_relpath_refuses(path: str) -> None:
    with pytest.raises(UnsafePath):
        safe_relpath(path)


def test_safe_relpath_normalizes() -> None:
    assert safe_relpath("./a//b/./c") == "a/b/c"


@pytest.fixture
def repo(tmp_path: Path):
    return LocalStore(tmp_path / "store").repository("evil")


def _refused(repo, tmp_path: Path, layers: list[Layer], error: type, match: str) -> Path:
    put_model(repo, layers)
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        unpack(repo, "t", out)
    assert not out.exists() or tree(out) == {}, "nothing may be left at the target"
    assert not (tmp_path / "escape").exists() and not (tmp_path / "evil.txt").exists()
    return out


def test_absolute_path(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer(str(tmp_path / "evil.txt"), b"x")], UnsafePath, "absolute path")


def test_dotdot_path(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("../escape", b"x")], UnsafePath, r"'\.\.'")


def test_duplicate_paths(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("a.bin", b"x"), Layer("./a.bin", b"y")], UnsafePath, "twice")


def test_path_through_existing_symlink(repo, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / "sub").symlink_to(outside)
    put_model(repo, [Layer("sub/evil.txt", b"x")])
    with pytest.raises(UnsafePath, match="symlink"):
        unpack(repo, "t", out)
    assert list(outside.iterdir()) == []


def test_wrong_digest(repo, tmp_path: Path) -> None:
    good = Layer("good.bin", b"fine")
    bad = Layer("w.bin", b"real bytes", declared_digest="sha256:" + "ab" * 32)
    # the store holds bytes under the declared digest that do not hash to it: a tampered blob
    store_path = repo.store.blob_path(bad.declared_digest)
    store_path.write_bytes(b"tampered!!")
    _refused(repo, tmp_path, [good, bad], DigestMismatch, "hashes to")


def test_wrong_size_in_descriptor(repo, tmp_path: Path) -> None:
    layer = Layer("w.bin", b"0123456789", declared_size=5)
    layer.annotations = {"org.cncf.model.filepath": "w.bin"}
    _refused(repo, tmp_path, [layer], SizeMismatch, "longer than")


def test_file_metadata_size_disagrees_with_descriptor(repo, tmp_path: Path) -> None:
    layer = Layer("w.bin", b"0123456789", extra={"org.cncf.model.file.metadata+json": '{"mode":420,"size":99}'})
    _refused(repo, tmp_path, [layer], SizeMismatch, "file metadata says 99")


def _tar_layer(members) -> Layer:
    return Layer("dir", tar_bytes(members), kind="weight.config", fmt="tar")


def test_tar_symlink(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(link("dir/x", "/etc/passwd"), None)])], UnsafePath, "link or special")


def test_tar_symlink_then_write_through_it(repo, tmp_path: Path) -> None:
    members = [(link("dir/l", str(tmp_path)), None), (reg("dir/l/evil.txt"), b"x")]
    _refused(repo, tmp_path, [_tar_layer(members)], UnsafePath, "link or special")


def test_tar_hardlink(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(link("dir/h", "/etc/passwd", tarfile.LNKTYPE), None)])],
             UnsafePath, "link or special")


def test_tar_device_file(repo, tmp_path: Path) -> None:
    dev = tarfile.TarInfo("dir/null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    _refused(repo, tmp_path, [_tar_layer([(dev, None)])], UnsafePath, "link or special")


def test_tar_dotdot_member(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(reg("dir/ok"), b"ok"), (reg("../escape"), b"x")])], UnsafePath, r"'\.\.'")


def test_tar_absolute_member(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(reg(str(tmp_path / "evil.txt")), b"x")])], UnsafePath, "absolute")


def test_tar_duplicate_member(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(reg("dir/a"), b"1"), (reg("dir/a"), b"2")])], UnsafePath, "twice")


def test_tar_member_colliding_with_raw_layer(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("dir/a", b"raw"), _tar_layer([(reg("dir/a"), b"tar")])], UnsafePath, "twice")


def test_truncated_tar(repo, tmp_path: Path) -> None:
    data = tar_bytes([(reg("dir/a"), b"x" * 5000)])
    _refused(repo, tmp_path, [Layer("dir", data[:1024], kind="weight.config", fmt="tar")], InvalidManifest, "malformed")


def test_compressed_layers_are_refused_clearly(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("dir", b"\x1f\x8b....", fmt="tar+gzip")], InvalidManifest, "raw and tar")


def test_file_and_directory_with_one_name(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("0", b"0"), Layer("a", b"x"), Layer("a/b", b"y")], UnsafePath,
             "both as a file and as a directory")


def test_tar_member_outside_its_layer_path(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(reg("model.safetensors"), b"x")])], UnsafePath, "outside its own path")


def test_tar_member_clashing_with_raw_file_as_directory(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("dir", b"raw file"), _tar_layer([(reg("dir/a"), b"x")])], UnsafePath,
             "both as a file and as a directory")
