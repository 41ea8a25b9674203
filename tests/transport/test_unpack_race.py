"""unpack and pull -o under a race: someone who can write in the output directory keeps swapping one of
its subdirectories for a symlink to a directory outside. Whatever the interleaving, nothing may land
outside (the unpack itself may fail: that is its right)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelcrate import transfer
from modelcrate.content.layout import LocalStore
from modelcrate.errors import ModelcrateError
from modelcrate.unpacking import unpack

from tests.support.artifacts import Layer, put_model, write_model

ATTEMPTS = 40
FILES = 40


_SWAP = """
import os, shutil, sys, time
sub, real, outside = sys.argv[1:4]
print("swapping", flush=True)
while True:
    time.sleep(0.0003)  # mostly a real directory, so the up-front checks pass now and then
    try:
        os.rename(sub, real)
        os.symlink(outside, sub)
        os.unlink(sub)
        os.rename(real, sub)
    except OSError:  # the unpack made a new sub meanwhile: start again from the one real directory
        if os.path.isdir(real):
            if os.path.islink(sub):
                os.unlink(sub)
            else:
                shutil.rmtree(sub, ignore_errors=True)
            try:
                os.rename(real, sub)
            except OSError:
                pass
"""


@contextlib.contextmanager
def swapping(out: Path, outside: Path) -> Iterator[None]:
    """A process that keeps replacing ``out/sub`` by a symlink to ``outside`` and back (a process, not a
    thread, so it runs truly alongside the unpack on another core)."""
    swapper = subprocess.Popen([sys.executable, "-c", _SWAP, str(out / "sub"), str(out / "sub.real"), str(outside)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "swapping\n"
        yield
    finally:
        swapper.kill()
        swapper.wait(10)
        swapper.stdout.close()


def _race(out: Path, outside: Path, run: Callable[[], None]) -> None:
    (out / "sub").mkdir(parents=True, exist_ok=True)
    run()  # a clean first run: the later ones overwrite (--force) while the swapper runs
    with swapping(out, outside):
        for _ in range(ATTEMPTS):
            with contextlib.suppress(ModelcrateError, OSError):
                run()
            assert list(outside.iterdir()) == [], "a file landed outside the output directory"


def _layers() -> list[Layer]:
    return [Layer(f"sub/f{i:02}.bin", os.urandom(64)) for i in range(FILES)]


def test_unpack_force_never_writes_through_a_swapped_in_symlink(tmp_path: Path) -> None:
    repo = LocalStore(tmp_path / "store").repository("race")
    put_model(repo, _layers())
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    _race(out, outside, lambda: unpack(repo, "t", out, force=True, concurrency=4))


@pytest.mark.registry
def test_pull_o_force_never_writes_through_a_swapped_in_symlink(registry, remote, settings, tmp_path: Path) -> None:
    files = {f"sub/f{i:02}.bin": os.urandom(64) for i in range(FILES)}
    ref = f"{registry.host}/race/pull-o:1"
    transfer.push_dir(write_model(tmp_path / "m", files), ref, config=settings, remote=remote)
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    _race(out, outside, lambda: transfer.pull_to_dir(ref, out, force=True, remote=remote))
