"""Version tags are immutable: push, tag and copy refuse to move one to another digest unless forced with a
key, and a forced move leaves a signed tag-overwrite record on the new manifest (the local store and a real
registry:2). Also: the reserved ``_history.`` tags, and ``resolve --format``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modelcrate import api, signatures
from modelcrate.content.remote import RegistryClient, RemoteSettings
from modelcrate.format.descriptor import Descriptor
from modelcrate.lifecycle.records import TAG_OVERWRITE_V1, RecordError, parse_tag_overwrite, tag_overwrite
from modelcrate.lifecycle.versions import version_tag
from modelcrate.settings import Settings
from tests.support.registry import RegistryProcess

PASSWORD = {"MODELCRATE_KEY_PASSWORD": "pw-for-tests"}
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.fixture
def alice(tmp_path: Path, run_cli) -> Path:
    r = run_cli("keygen", "--output-key-prefix", str(tmp_path / "alice"), env=PASSWORD)
    assert r.returncode == 0, r.stderr
    return tmp_path / "alice.key"


@pytest.fixture
def rebuilt(example: Path, tmp_path: Path) -> Path:
    """The example again with the same version and different bytes: another digest for version 1.0.0."""
    other = tmp_path / "rebuilt"
    shutil.copytree(example, other)
    yaml = other / "modelcrate.yaml"
    yaml.write_text(yaml.read_text().replace("A two-layer MLP", "A rebuilt two-layer MLP"))
    return other


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _overwrites(target, desc: Descriptor, name: str, alice: Path) -> list[dict]:
    verifier = signatures.KeyVerifier.from_pem(alice.with_suffix(".pub").read_bytes())
    found = signatures.collect_records(target, desc, name, verifier, predicate_type=TAG_OVERWRITE_V1)
    return [r.predicate for r in found.records]


def _descriptor(digest: str) -> Descriptor:
    return Descriptor("application/vnd.oci.image.manifest.v1+json", digest, 1)


# --- the rule -----------------------------------------------------------------------------------------


def test_the_version_tag_is_the_metadata_version_mapped() -> None:
    assert version_tag({"version": "1.2.0+cuda12"}) == "1.2.0_cuda12"
    assert version_tag({"version": "1.0.0"}) == "1.0.0"
    assert version_tag({}) is None and version_tag(None) is None and version_tag({"version": "a_b"}) is None


def test_the_overwrite_record_checks_its_fields() -> None:
    facts = tag_overwrite(tag="1.0.0", old_digest=D1, new_digest=D2, actor="key abc", reason="rebuilt",
                          time="2026-03-01T09:00:00Z")
    assert facts.to_predicate() == {"tag": "1.0.0", "oldDigest": D1, "newDigest": D2, "actor": "key abc",
                                    "reason": "rebuilt", "time": "2026-03-01T09:00:00Z"}
    for bad in ({**facts.to_predicate(), "newDigest": D1}, {**facts.to_predicate(), "extra": 1},
                {**facts.to_predicate(), "oldDigest": "sha256:zz"}, {**facts.to_predicate(), "time": "today"}):
        with pytest.raises(RecordError):
            parse_tag_overwrite(bad)


# --- the local store --------------------------------------------------------------------------------------


def test_tag_refuses_to_move_a_version_tag_in_the_local_store(run_cli, example: Path, rebuilt: Path,
                                                              alice: Path, home: Path) -> None:
    v1 = _ok(run_cli("pack", str(example), "-t", "demo/v:1.0.0"))
    v2 = _ok(run_cli("pack", str(rebuilt), "-t", "demo/rebuilt:1.0.0"))
    assert v1 != v2

    refused = run_cli("tag", "demo/rebuilt:1.0.0", "demo/v:1.0.0")
    assert refused.returncode == 1 and f"version tag '1.0.0' already names {v1}" in refused.stderr
    assert _ok(run_cli("tag", "demo/v:1.0.0", "demo/v:1.0.0")) == v1  # the same digest again: fine
    assert _ok(run_cli("tag", "demo/rebuilt:1.0.0", "demo/v:latest")) == v2  # not the version tag: moves

    unrecorded = run_cli("tag", "demo/rebuilt:1.0.0", "demo/v:1.0.0", "--force")
    assert unrecorded.returncode == 2 and "needs --key" in unrecorded.stderr

    forced = run_cli("tag", "demo/rebuilt:1.0.0", "demo/v:1.0.0", "--force", "--key", str(alice),
                     "--reason", "rebuilt with the fixed tokenizer", env=PASSWORD)
    assert _ok(forced) == v2
    repo = api.open_store(Settings(home)).repository("demo/v")
    assert repo.resolve("1.0.0").digest == v2
    [record] = _overwrites(repo, _descriptor(v2), "demo/v", alice)
    assert (record["tag"], record["oldDigest"], record["newDigest"]) == ("1.0.0", v1, v2)
    assert record["reason"] == "rebuilt with the fixed tokenizer" and record["actor"].startswith("key ")
    assert record["time"].endswith("Z")


def test_a_refused_overwrite_leaves_the_tag_alone(run_cli, example: Path, rebuilt: Path, home: Path) -> None:
    v1 = _ok(run_cli("pack", str(example), "-t", "demo/keep:1.0.0"))
    _ok(run_cli("pack", str(rebuilt), "-t", "demo/other:1.0.0"))
    assert run_cli("copy", "demo/other:1.0.0", "demo/keep:1.0.0").returncode == 1
    assert run_cli("tag", "demo/other:1.0.0", "demo/keep:1.0.0", "--force").returncode == 2
    assert api.open_store(Settings(home)).repository("demo/keep").resolve("1.0.0").digest == v1


def test_key_without_force_is_a_usage_error(run_cli, example: Path, alice: Path) -> None:
    _ok(run_cli("pack", str(example), "-t", "demo/k:1.0.0"))
    r = run_cli("tag", "demo/k:1.0.0", "demo/k2:1.0.0", "--key", str(alice))
    assert r.returncode == 2 and "go with --force" in r.stderr


# --- a registry -------------------------------------------------------------------------------------------


def test_push_and_copy_refuse_to_move_a_version_tag_on_a_registry(run_cli, registry: RegistryProcess,
                                                                  example: Path, rebuilt: Path,
                                                                  alice: Path) -> None:
    ref = f"{registry.host}/versions/push"
    v1 = _ok(run_cli("push", str(example), f"{ref}:1.0.0", "-q"))
    assert _ok(run_cli("push", str(example), f"{ref}:1.0.0", "-q")) == v1  # idempotent

    refused = run_cli("push", str(rebuilt), f"{ref}:1.0.0", "-q")
    assert refused.returncode == 1 and f"already names {v1}" in refused.stderr
    v2 = _ok(run_cli("push", str(rebuilt), f"{ref}:rc", "-q"))  # any other tag is free to take it
    client = RegistryClient(registry.host, RemoteSettings(docker_config=alice.parent / "docker-config"))
    assert client.repository("versions/push").resolve("1.0.0").digest == v1

    # copy: onto the version tag of another repository, and from the local store
    other = f"{registry.host}/versions/copy"
    _ok(run_cli("copy", f"{ref}:1.0.0", f"{other}:1.0.0", "-q"))
    refused = run_cli("copy", f"{ref}:rc", f"{other}:1.0.0", "-q")
    assert refused.returncode == 1 and "version tag '1.0.0'" in refused.stderr
    _ok(run_cli("pack", str(rebuilt), "-t", f"{ref}:1.0.0"))  # the local store may hold it under that name
    assert run_cli("push", f"{ref}:1.0.0", "-q").returncode == 1  # but pushing it is refused

    no_key = run_cli("push", str(rebuilt), f"{ref}:1.0.0", "-q", "--force")
    assert no_key.returncode == 2 and "needs --key" in no_key.stderr
    forced = run_cli("push", str(rebuilt), f"{ref}:1.0.0", "-q", "--force", "--key", str(alice),
                     "--reason", "republished", env=PASSWORD)
    assert _ok(forced) == v2
    repo = client.repository("versions/push")
    assert repo.resolve("1.0.0").digest == v2
    [record] = _overwrites(repo, _descriptor(v2), f"{registry.host}/versions/push", alice)
    assert (record["tag"], record["oldDigest"], record["newDigest"], record["reason"]) == (
        "1.0.0", v1, v2, "republished")

    copied = run_cli("copy", f"{ref}:rc", f"{other}:1.0.0", "-q", "--force", "--key", str(alice), env=PASSWORD)
    assert _ok(copied) == v2
    # the copy carries the push's record along with its own
    records = _overwrites(client.repository("versions/copy"), _descriptor(v2), f"{registry.host}/versions/copy",
                          alice)
    assert sorted(r["reason"] for r in records) == ["", "republished"]
    assert all((r["oldDigest"], r["newDigest"]) == (v1, v2) for r in records)



def test_a_registry_retag_in_one_repository_guards_the_version_tag(run_cli, registry: RegistryProcess,
                                                                   example: Path, rebuilt: Path,
                                                                   alice: Path) -> None:
    ref = f"{registry.host}/versions/retag"
    v1 = _ok(run_cli("push", str(example), f"{ref}:1.0.0", "-q"))
    v2 = _ok(run_cli("push", str(rebuilt), f"{ref}:rc", "-q"))
    refused = run_cli("tag", "--remote", f"{ref}:rc", f"{ref}:1.0.0")
    assert refused.returncode == 1 and f"already names {v1}" in refused.stderr
    client = RegistryClient(registry.host, RemoteSettings(docker_config=alice.parent / "docker-config"))
    repo = client.repository("versions/retag")
    assert repo.resolve("1.0.0").digest == v1
    forced = run_cli("tag", "--remote", f"{ref}:rc", f"{ref}:1.0.0", "--force", "--key", str(alice),
                     "--reason", "retagged", env=PASSWORD)
    assert forced.returncode == 0, forced.stderr
    assert repo.resolve("1.0.0").digest == v2
    [record] = _overwrites(repo, _descriptor(v2), ref, alice)
    assert (record["oldDigest"], record["newDigest"], record["reason"]) == (v1, v2, "retagged")

# --- reserved tags ----------------------------------------------------------------------------------------


def test_history_tags_are_reserved_and_hidden(run_cli, example: Path, alice: Path, registry: RegistryProcess
                                              ) -> None:
    _ok(run_cli("pack", str(example), "-t", "demo/h:1.0.0"))
    refused = run_cli("tag", "demo/h:1.0.0", "demo/h:_history.production")
    assert refused.returncode == 2 and "reserved" in refused.stderr and "_history." in refused.stderr
    _ok(run_cli("promote", "demo/h:1.0.0", "--to", "staging", "--key", str(alice), env=PASSWORD))
    listed = {row["tag"] for row in json.loads(_ok(run_cli("list", "--json")))}
    assert listed == {"1.0.0", "staging"}
    every = {row["tag"] for row in json.loads(_ok(run_cli("list", "--all", "--json")))}
    assert "_history.staging" in every

    ref = f"{registry.host}/versions/hidden"
    _ok(run_cli("push", str(example), f"{ref}:1.0.0", "-q"))
    _ok(run_cli("promote", f"{ref}:1.0.0", "--to", "staging", "--key", str(alice), env=PASSWORD))
    assert json.loads(_ok(run_cli("tags", ref, "--json"))) == ["1.0.0", "staging"]
    assert "_history.staging" in json.loads(_ok(run_cli("tags", ref, "--all", "--json")))


# --- resolve --format -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["plain", "kustomize", "helm"])
def test_resolve_renders_the_pin(run_cli, example: Path, alice: Path, fmt: str) -> None:
    v1 = _ok(run_cli("pack", str(example), "-t", "demo/pin:1.0.0"))
    _ok(run_cli("promote", "demo/pin:1.0.0", "--to", "production", "--key", str(alice), env=PASSWORD))
    out = _ok(run_cli("resolve", "demo/pin:production", "--key", str(alice.with_suffix(".pub")),
                      "--format", fmt, "--inference-service", "bert"))
    if fmt == "plain":
        assert out == f"demo/pin@{v1}"
    elif fmt == "kustomize":
        assert '- target: {"kind": "InferenceService", "name": "bert"}' in out
        patch = json.loads(out.split("patch: |-", 1)[1])
        assert patch == [{"op": "replace", "path": "/spec/predictor/model/storageUri",
                          "value": f"modelcrate://demo/pin@{v1}"}]
    else:
        assert out.splitlines() == ["model:", f'  storageUri: "modelcrate://demo/pin@{v1}"', f'  digest: "{v1}"']


def test_resolve_refuses_an_unknown_format(run_cli) -> None:
    r = run_cli("resolve", "demo/pin:production", "--format", "yaml")
    assert r.returncode == 2 and "plain" in r.stderr

