"""Provenance reads git facts from a work tree someone else may have written: nothing in its config may
run, and no secret in a remote URL may reach the predicate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from modelcrate.provenance import git_facts, strip_credentials

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


@pytest.mark.parametrize(("url", "expected"), [
    ("https://user:s3cret@git.example.com/m.git", "https://git.example.com/m.git"),
    ("https://ghp_s3cret@github.com/team/m.git", "https://github.com/team/m.git"),
    ("https://git.example.com/m.git?private_token=s3cret", "https://git.example.com/m.git"),
    ("https://git.example.com/m.git#s3cret", "https://git.example.com/m.git"),
    ("ssh://git:s3cret@git.example.com:2222/m.git?x=s3cret", "ssh://git.example.com:2222/m.git"),
    ("oauth2:s3cret@gitlab.example.com:team/m.git", "gitlab.example.com:team/m.git"),
    ("a@b:s3cret@git.example.com:team/m@v1.git", "git.example.com:team/m@v1.git"),
    ("git@github.com:team/m.git", "git@github.com:team/m.git"),
    ("/srv/git/m.git", "/srv/git/m.git"),
])
def test_strip_credentials_scrubs_every_place_a_secret_can_sit(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected
    assert "s3cret" not in strip_credentials(url)


def _repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "train.py").write_text("print(1)\n")
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run([*GIT, "-C", str(work), "commit", "-qm", "x"], check=True)
    return work


def _plant(work: Path, *lines: str) -> None:
    with open(work / ".git" / "config", "a") as f:
        f.write("\n".join(lines) + "\n")


def test_a_planted_fsmonitor_command_does_not_run(tmp_path: Path) -> None:
    work = _repo(tmp_path)
    marker = tmp_path / "fsmonitor-ran"
    _plant(work, "[core]", f"\tfsmonitor = \"touch {marker}; false\"")
    (work / "train.py").write_text("print(2)\n")
    facts = git_facts(work)
    assert facts is not None and facts["dirty"] is True
    assert not marker.exists(), "git ran the fsmonitor command from the work tree's config"


def test_a_planted_filter_driver_and_hooks_do_not_run(tmp_path: Path) -> None:
    work = _repo(tmp_path)
    marker = tmp_path / "filter-ran"
    (work / ".gitattributes").write_text("*.py filter=evil\n")
    _plant(work, "[filter \"evil\"]", f"\tclean = \"touch {marker}; cat\"", f"\tprocess = \"touch {marker}\"",
           "[core]", f"\thooksPath = {tmp_path}", f"\tpager = touch {marker}")
    (tmp_path / "post-index-change").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (tmp_path / "post-index-change").chmod(0o755)
    (work / "train.py").write_text("print(3)\n")
    facts = git_facts(work)
    assert facts is not None and facts["dirty"] is True
    assert not marker.exists(), "git ran a command from the work tree's config"


def test_a_clean_tree_is_reported_clean_with_its_remote_scrubbed(tmp_path: Path) -> None:
    work = _repo(tmp_path)
    subprocess.run(["git", "-C", str(work), "remote", "add", "origin", "tok:s3cret@git.example.com:m.git"],
                   check=True)
    facts = git_facts(work)
    assert facts is not None and facts["dirty"] is False and facts["remote"] == "git.example.com:m.git"
