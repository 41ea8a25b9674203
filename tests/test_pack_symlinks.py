"""A symlink in the model directory that leaves it would publish a file of the packer's machine:
``init``, ``pack`` and ``push DIR`` refuse it, naming the link and its target, unless asked not to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelcrate import api, transfer
from modelcrate.errors import UsageError
from modelcrate.settings import Settings

from tests.support.artifacts import write_model

OUTSIDE = ["/etc/passwd", "/proc/self/environ"]


def _model_with_link(tmp_path: Path, target: str) -> Path:
    root = write_model(tmp_path / "m", {"w.bin": b"weights", "leak.json": b"placeholder"})
    (root / "leak.json").unlink()
    (root / "leak.json").symlink_to(target)
    return root


@pytest.mark.parametrize("target", OUTSIDE)
def test_pack_refuses_a_link_out_of_the_directory(tmp_path: Path, settings: Settings, target: str) -> None:
    root = _model_with_link(tmp_path, target)
    with pytest.raises(UsageError, match=f"leak.json is a symlink to {target}, outside"):
        api.pack(root, "m:1", config=settings)
    assert api.list_models(config=settings) == []


@pytest.mark.parametrize("target", OUTSIDE)
def test_init_refuses_a_link_out_of_the_directory(tmp_path: Path, target: str) -> None:
    root = _model_with_link(tmp_path, target)
    (root / "modelcrate.yaml").unlink()
    with pytest.raises(UsageError, match=f"leak.json is a symlink to {target}"):
        api.init(root)
    assert not (root / "modelcrate.yaml").exists()


def test_push_dir_refuses_before_any_connection(tmp_path: Path, settings: Settings) -> None:
    root = _model_with_link(tmp_path, "/etc/passwd")
    with pytest.raises(UsageError, match="leak.json is a symlink to /etc/passwd"):
        transfer.push_dir(root, "127.0.0.1:9/never/used:1", config=settings)


def test_a_link_into_an_outside_directory_through_a_relative_path_is_refused(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "secret").write_bytes(b"token")
    root = _model_with_link(tmp_path, "../secret")
    with pytest.raises(UsageError, match="symlink to ../secret, outside"):
        api.pack(root, "m:1", config=settings)


def test_a_link_inside_the_directory_is_packed_as_its_content(tmp_path: Path, settings: Settings) -> None:
    root = _model_with_link(tmp_path, "w.bin")
    packed = api.pack(root, "m:1", config=settings)
    assert {f.path for f in packed.view.files} == {"w.bin", "leak.json"}


def test_the_flag_allows_an_external_link(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "shared.json").write_bytes(b"{}")
    root = _model_with_link(tmp_path, str(tmp_path / "shared.json"))
    packed = api.pack(root, "m:1", config=settings, follow_external_symlinks=True)
    assert "leak.json" in {f.path for f in packed.view.files}


def test_cli_names_the_link_exits_2_and_accepts_the_flag(tmp_path: Path, run_cli) -> None:
    (tmp_path / "shared.json").write_bytes(b"{}")
    root = _model_with_link(tmp_path, str(tmp_path / "shared.json"))
    for argv in (["pack", str(root), "-t", "m:1"], ["push", str(root), "127.0.0.1:9/x:1"]):
        done = run_cli(*argv)
        assert done.returncode == 2 and "leak.json is a symlink to" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert run_cli("pack", str(root), "-t", "m:1", "--follow-external-symlinks").returncode == 0
    os.unlink(root / "modelcrate.yaml")
    assert run_cli("init", str(root)).returncode == 2
    assert run_cli("init", str(root), "--follow-external-symlinks").returncode == 0
