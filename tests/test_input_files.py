"""Small files a user names (modelcrate.yaml, policies and the keys they name, --key files, predicates):
a FIFO, a device, or an oversized file is one clear error, never a hang or a full read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelcrate import api, signatures
from modelcrate._internal.inputs import read_regular_file
from modelcrate.errors import InvalidModelfile, UsageError
from modelcrate.settings import Settings

from tests.support.artifacts import write_model

TIMEOUT = 20  # a blocking open of a FIFO would hang far longer


def test_read_regular_file_refuses_fifo_device_and_oversize(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="the key .*fifo is not a regular file"):
        read_regular_file(fifo, 100, "the key")
    with pytest.raises(UsageError, match="not a regular file"):
        read_regular_file("/dev/zero", 100, "the key")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(UsageError, match="over the 100-byte limit"):
        read_regular_file(big, 100, "the key")
    assert read_regular_file(big, 101, "the key") == b"x" * 101
    with pytest.raises(UsageError, match="cannot read the key .*missing: No such file"):
        read_regular_file(tmp_path / "missing", 100, "the key")


def test_a_proc_file_that_claims_size_zero_is_still_capped() -> None:
    assert len(read_regular_file("/proc/self/status", 1 << 20, "x")) > 0
    with pytest.raises(UsageError, match="larger than the 10-byte limit"):
        read_regular_file("/proc/self/status", 10, "x")


def _in_child(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a child with a 512 MiB address-space limit and a deadline."""
    pre = "import resource; resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))\n"
    return subprocess.run([sys.executable, "-c", pre + code], capture_output=True, text=True, timeout=TIMEOUT,
                          cwd=tmp_path, env={**os.environ, "MODELCRATE_HOME": str(tmp_path / "home")})


def test_modelcrate_yaml_linked_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    root = write_model(tmp_path / "m", {"w.bin": b"x"})
    (root / "modelcrate.yaml").unlink()
    (root / "modelcrate.yaml").symlink_to("/dev/zero")
    done = _in_child(f"from modelcrate import api\ntry:\n api.pack({str(root)!r}, 'm:1')\n"
                     "except Exception as e: print(type(e).__name__, e)", tmp_path)
    assert "InvalidModelfile" in done.stdout and "not a regular file" in done.stdout, done.stdout + done.stderr


def test_modelcrate_yaml_as_a_fifo_is_refused_at_once(tmp_path: Path, settings: Settings) -> None:
    root = write_model(tmp_path / "m", {"w.bin": b"x"})
    (root / "modelcrate.yaml").unlink()
    os.mkfifo(root / "modelcrate.yaml")
    with pytest.raises(InvalidModelfile, match="not a regular file"):
        api.pack(root, "m:1", config=settings)


def test_an_oversized_modelcrate_yaml_is_refused_before_it_is_read_in_full(tmp_path: Path, settings: Settings) -> None:
    root = write_model(tmp_path / "m", {"w.bin": b"x"})
    with open(root / "modelcrate.yaml", "ab") as f:
        f.truncate(64 << 20)  # sparse: 64 MiB that cost nothing on disk
    with pytest.raises(InvalidModelfile, match="over the 1048576-byte limit"):
        api.pack(root, "m:1", config=settings)


def test_a_policy_key_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "key.pub")
    (tmp_path / "policy.yaml").write_text("version: 1\nsigners:\n  - key: key.pub\n")
    done = _in_child(f"from modelcrate import signatures\ntry:\n signatures.load_policy({str(tmp_path / 'policy.yaml')!r})\n"
                     "except Exception as e: print(type(e).__name__, e)", tmp_path)
    assert "Invalid" in done.stdout and "not a regular file" in done.stdout, done.stdout + done.stderr


def test_a_policy_that_is_a_fifo_or_not_utf8_is_one_usage_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(UsageError, match="not a regular file"):
        signatures.load_policy(tmp_path / "fifo.yaml")
    (tmp_path / "latin1.yaml").write_bytes("version: 1\nsigners: [{key: clé.pub}]\n".encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        signatures.load_policy(tmp_path / "latin1.yaml")


@pytest.mark.parametrize("argv", [
    ["verify", "m:1", "--key", "{fifo}"],
    ["pull", "127.0.0.1:9/m:1", "--key", "{fifo}"],
    ["attest", "m:1", "--type", "evaluation", "--predicate", "{fifo}", "--key", "{fifo}"],
])
def test_cli_key_and_predicate_files_that_are_fifos_fail_fast(tmp_path: Path, run_cli, argv: list[str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = run_cli(*[a.format(fifo=fifo) for a in argv])
    assert done.returncode == 2 and "not a regular file" in done.stderr, done.stderr
