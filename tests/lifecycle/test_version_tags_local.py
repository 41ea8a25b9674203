"""The version-tag rule wherever the local store gets a tag written: ``pack`` (with ``-t`` and by default)
and ``pull`` refuse to move a NAME:VERSION that names other content, with the wording and exit code of
``push``/``tag``/``copy``; ``--force`` with a key moves it and leaves a signed tag-overwrite record."""

from __future__ import annotations

from pathlib import Path

from modelcrate import api, signatures
from modelcrate.format.descriptor import Descriptor
from modelcrate.lifecycle.records import TAG_OVERWRITE_V1
from modelcrate.settings import Settings
from tests.support.registry import RegistryProcess

# the fixtures and helpers of the push/tag/copy tests: the same keys and the same rebuilt 1.0.0
from tests.lifecycle.test_versions import PASSWORD, _ok, alice, rebuilt  # noqa: E402,F401


def _local(home: Path, name: str, tag: str) -> str:
    return api.open_store(Settings(home)).repository(name).resolve(tag).digest


def _overwrite_records(home: Path, name: str, digest: str, alice: Path) -> list[dict]:
    repo = api.open_store(Settings(home)).repository(name)
    verifier = signatures.KeyVerifier.from_pem(alice.with_suffix(".pub").read_bytes())
    desc = Descriptor("application/vnd.oci.image.manifest.v1+json", digest, 1)
    return [r.predicate for r in signatures.collect_records(repo, desc, name, verifier,
                                                            predicate_type=TAG_OVERWRITE_V1).records]


def test_pack_refuses_to_move_a_version_tag(run_cli, example: Path, rebuilt: Path, alice: Path,
                                            home: Path) -> None:
    v1 = _ok(run_cli("pack", str(example), "-t", "demo/p:1.0.0"))
    assert _ok(run_cli("pack", str(example), "-t", "demo/p:1.0.0")) == v1  # the same content again: fine

    refused = run_cli("pack", str(rebuilt), "-t", "demo/p:1.0.0")
    assert refused.returncode == 1, refused.stderr
    assert f"version tag '1.0.0' already names {v1}: a version is immutable" in refused.stderr
    assert _local(home, "demo/p", "1.0.0") == v1
    v2 = _ok(run_cli("pack", str(rebuilt), "-t", "demo/p:latest"))  # not the version tag: it moves
    assert v2 != v1

    no_key = run_cli("pack", str(rebuilt), "-t", "demo/p:1.0.0", "--force")
    assert no_key.returncode == 2 and "needs --key" in no_key.stderr
    assert _local(home, "demo/p", "1.0.0") == v1
    forced = run_cli("pack", str(rebuilt), "-t", "demo/p:1.0.0", "--force", "--key", str(alice),
                     "--reason", "rebuilt", env=PASSWORD)
    assert _ok(forced) == v2 and _local(home, "demo/p", "1.0.0") == v2
    [record] = _overwrite_records(home, "demo/p", v2, alice)
    assert (record["tag"], record["oldDigest"], record["newDigest"], record["reason"]) == ("1.0.0", v1, v2, "rebuilt")


def test_pack_guards_its_default_name_version_too(run_cli, example: Path, rebuilt: Path, home: Path) -> None:
    v1 = _ok(run_cli("pack", str(example)))  # tiny-classifier:1.0.0, from the yaml
    refused = run_cli("pack", str(rebuilt), "--json")
    assert refused.returncode == 1 and f"already names {v1}" in refused.stdout
    assert _local(home, "tiny-classifier", "1.0.0") == v1


def test_pull_refuses_to_replace_a_local_version_tag(run_cli, registry: RegistryProcess, example: Path,
                                                     rebuilt: Path, alice: Path, home: Path) -> None:
    ref = f"{registry.host}/versions/pull"
    remote = _ok(run_cli("push", str(example), f"{ref}:1.0.0", "-q"))
    local = _ok(run_cli("pack", str(rebuilt), "-t", f"{ref}:1.0.0"))  # another 1.0.0 under the same name
    assert local != remote

    refused = run_cli("pull", f"{ref}:1.0.0", "-q")
    assert refused.returncode == 1, refused.stderr
    assert f"version tag '1.0.0' already names {local}: a version is immutable" in refused.stderr
    assert "--force and --overwrite-key" in refused.stderr
    repo_name = f"{registry.host}/versions/pull"
    assert _local(home, repo_name, "1.0.0") == local

    no_key = run_cli("pull", f"{ref}:1.0.0", "-q", "--force")
    assert no_key.returncode == 2 and "needs --overwrite-key" in no_key.stderr
    assert run_cli("pull", f"{ref}:1.0.0", "--overwrite-key", str(alice)).returncode == 2  # without --force
    assert _local(home, repo_name, "1.0.0") == local

    forced = run_cli("pull", f"{ref}:1.0.0", "-q", "--force", "--overwrite-key", str(alice), "--reason", "upstream",
                     env=PASSWORD)
    assert _ok(forced) == remote and _local(home, repo_name, "1.0.0") == remote
    [record] = _overwrite_records(home, repo_name, remote, alice)
    assert (record["oldDigest"], record["newDigest"], record["reason"]) == (local, remote, "upstream")
    assert _ok(run_cli("pull", f"{ref}:1.0.0", "-q")) == remote  # the same content again: fine


def test_pull_moves_other_tags_and_leaves_o_dir_alone(run_cli, registry: RegistryProcess, example: Path,
                                                      rebuilt: Path, tmp_path: Path, alice: Path,
                                                      home: Path) -> None:
    ref = f"{registry.host}/versions/free"
    remote = _ok(run_cli("push", str(example), f"{ref}:latest", "-q"))
    _ok(run_cli("pack", str(rebuilt), "-t", f"{ref}:latest"))
    assert _ok(run_cli("pull", f"{ref}:latest", "-q")) == remote  # latest is not a version tag
    assert _local(home, f"{registry.host}/versions/free", "latest") == remote
    out = run_cli("pull", f"{ref}:latest", "-o", str(tmp_path / "o"), "--force", "--overwrite-key", str(alice))
    assert out.returncode == 2 and "not -o DIR" in out.stderr
