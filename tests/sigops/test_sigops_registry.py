"""Signatures on a real registry:2 (distribution 2.8.2, no referrers API): the sha256-<hex> fallback index,
concurrent signers, copies in both directions, and refusing unsigned models before a byte lands.

The ``registry`` fixture fails these tests under CI=true when no registry starts (never skips them there).
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelcrate import signatures, transfer
from modelcrate.cli.main import cli
from modelcrate.content import referrers
from modelcrate.content.layout import LocalStore
from modelcrate.content.remote import (
    RegistryClient,
    RemoteSettings,
    RetryPolicy,
    Timeout,
)
from modelcrate.errors import SignatureError
from modelcrate.settings import Settings
from modelcrate.signing import keys

from .conftest import CREATED

pytestmark = pytest.mark.registry

PASSWORD = "pw-for-tests"


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RemoteSettings:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    return RemoteSettings(docker_config=tmp_path / "docker-config", retry=RetryPolicy(attempts=3, backoff=0.02),
                          timeout=Timeout(connect=5, read=20))


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    return "sigops/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:80]


@pytest.fixture
def pushed(registry, packed, repo_name: str, home: Path, remote: RemoteSettings):
    """A small model packed locally as HOST/REPO:1.0 and pushed; returns (ref, descriptor)."""
    ref = f"{registry.host}/{repo_name}:1.0"
    _repo, desc = packed(ref)
    transfer.push(ref, config=Settings(home), remote=remote)
    return ref, desc


def _target(registry, repo_name: str, remote: RemoteSettings, push: bool = True):
    return RegistryClient(registry.host, remote).repository(repo_name, push=push)


def test_sign_and_verify_on_registry_uses_the_fallback_index(registry, pushed, repo_name, remote, ec_key) -> None:
    _ref, desc = pushed
    target = _target(registry, repo_name, remote)
    result = signatures.sign(target, desc, target.name, signatures.KeySigner(ec_key), created=CREATED,
                             cosign_legacy=True)
    assert target.referrers_api(desc) is None  # registry 2.8.2: no OCI 1.1 referrers API
    tags = target.tags()
    assert referrers.fallback_tag(desc.digest) in tags and referrers.cosign_signature_tag(desc.digest) in tags
    fresh = _target(registry, repo_name, remote, push=False)
    found = signatures.verify(fresh, desc, fresh.name, signatures.KeyVerifier(ec_key.public_key()))
    assert {v.kind for v in found} == {"bundle", "cosign"}
    assert {v.signed_name for v in found} == {f"{registry.host}/{repo_name}"}
    assert sorted(n.kind for n in signatures.discover(fresh, desc)) == ["cosign-signature", "model-signing",
                                                                       "signature"]
    assert len(result.stored) == 3
    # ...and `tags` hides them unless asked, as `list` does locally
    shown = transfer.list_tags(f"{registry.host}/{repo_name}", remote=remote)
    assert shown == ["1.0"]
    assert set(transfer.list_tags(f"{registry.host}/{repo_name}", remote=remote, show_referrers=True)) == set(tags)


def test_two_concurrent_signers_both_end_up_in_the_index(registry, pushed, repo_name, remote) -> None:
    _ref, desc = pushed
    signers = [keys.generate() for _ in range(3)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(signers))

    def sign(key: keys.PrivateKey) -> None:
        try:
            target = _target(registry, repo_name, remote)  # one client each, as separate processes would
            barrier.wait()
            signatures.sign(target, desc, target.name, signatures.KeySigner(key), created=CREATED,
                            model_signing=False)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sign, args=(k,)) for k in signers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    target = _target(registry, repo_name, remote, push=False)
    for key in signers:
        (found,) = signatures.verify(target, desc, target.name, signatures.KeyVerifier(key.public_key()))
        assert found.kind == "bundle"
    assert len(referrers.list_referrers(target, desc)) == len(signers)


def test_signatures_travel_with_push_pull_and_copy(registry, packed, repo_name, remote, home: Path, ec_key,
                                                   tmp_path: Path) -> None:
    settings = Settings(home)
    ref = f"{registry.host}/{repo_name}:1.0"
    repo, desc = packed(ref)
    # Signed in the local store, then pushed: the referrers come along.
    signatures.sign(repo, desc, repo.name, signatures.KeySigner(ec_key), created=CREATED, cosign_legacy=True)
    assert transfer.push(ref, config=settings, remote=remote).referrers >= 3
    verifier = signatures.KeyVerifier(ec_key.public_key())
    target = _target(registry, repo_name, remote, push=False)
    assert {v.kind for v in signatures.verify(target, desc, target.name, verifier)} == {"bundle", "cosign"}
    # Copied to another repository of the registry (blobs mounted) and pulled into a fresh store.
    other = f"{registry.host}/{repo_name}-copy:prod"
    transfer.copy_ref(ref, other, config=settings, remote=remote)
    elsewhere = _target(registry, f"{repo_name}-copy", remote, push=False)
    assert signatures.verify(elsewhere, elsewhere.resolve("prod"), elsewhere.name, verifier)
    fresh_home = tmp_path / "fresh-home"
    transfer.pull(other, config=Settings(fresh_home), remote=remote)
    local = LocalStore(fresh_home).repository(f"{registry.host}/{repo_name}-copy")
    found = signatures.verify(local, local.resolve("prod"), local.name, verifier)
    assert {v.kind for v in found} == {"bundle", "cosign"}
    assert signatures.model_signature(local, desc, verifier=verifier).verified


def test_verify_before_pull_refuses_unsigned(registry, pushed, repo_name, remote, ec_key) -> None:
    _ref, desc = pushed
    target = _target(registry, repo_name, remote, push=False)
    with pytest.raises(SignatureError, match="refusing to pull: no signature found"):
        signatures.verify_before_pull(target, desc, target.name, signatures.KeyVerifier(ec_key.public_key()))


def test_cli_against_registry(registry, pushed, repo_name, home: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch, remote) -> None:
    ref, desc = pushed
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELCRATE_KEY_PASSWORD", PASSWORD)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    assert run("keygen").exit_code == 0
    r = run("verify", ref, "--key", "modelcrate.pub")
    assert r.exit_code == 5 and "no signature found" in r.stderr
    r = run("sign", ref, "--key", "modelcrate.key", "--json")
    assert r.exit_code == 0, r.output
    r = run("verify", ref, "--key", "modelcrate.pub", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["digest"] == desc.digest
    r = run("discover", ref, "--json")
    assert sorted(n["kind"] for n in json.loads(r.stdout)["referrers"]) == ["model-signing", "signature"]
    # --local: the local-store entry of the same name (it was packed there, and is unsigned).
    r = run("verify", ref, "--key", "modelcrate.pub", "--local")
    assert r.exit_code == 5 and "no signature found" in r.stderr


def _store_is_empty(home: Path) -> bool:
    blobs = home / "blobs" / "sha256"
    index = home / "index.json"
    return (not blobs.exists() or not any(blobs.iterdir())) and (
        not index.exists() or json.loads(index.read_bytes())["manifests"] == [])


def test_pull_refuses_unsigned_before_a_byte_lands(registry, pushed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   remote, ec_key, other_key) -> None:
    ref, desc = pushed
    fresh = tmp_path / "serving-home"
    monkeypatch.setenv("MODELCRATE_HOME", str(fresh))
    (tmp_path / "release.pub").write_bytes(keys.public_pem(ec_key))
    (tmp_path / "policy.yaml").write_text("version: 1\nsigners: [{key: release.pub}]\n")
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    out = tmp_path / "out"
    for extra in ([], ["-o", str(out)]):
        r = run("pull", ref, "--key", str(tmp_path / "release.pub"), *extra)
        assert r.exit_code == 5 and "refusing to pull: no signature found" in r.stderr, r.output
        r = run("pull", ref, "--policy", str(tmp_path / "policy.yaml"), *extra)
        assert r.exit_code == 6 and "refusing to pull" in r.stderr, r.output
        assert _store_is_empty(fresh) and not out.exists()
    # Signed by someone else: still refused, and the reason names the key.
    target = _target(registry, ref.split("/", 1)[1].rsplit(":", 1)[0], remote)
    signatures.sign(target, desc, target.name, signatures.KeySigner(other_key), created=CREATED)
    r = run("pull", ref, "--key", str(tmp_path / "release.pub"), "-o", str(out))
    assert r.exit_code == 5 and "does not verify" in r.stderr and not out.exists()
    assert _store_is_empty(fresh)
    # Signed by the right key: the pull goes through, signatures included.
    signatures.sign(target, desc, target.name, signatures.KeySigner(ec_key), created=CREATED)
    r = run("pull", ref, "--policy", str(tmp_path / "policy.yaml"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["digest"] == desc.digest and json.loads(r.stdout)["referrers"] >= 4


@pytest.mark.interop
def test_pull_to_dir_with_model_signature(registry, pushed, repo_name, tmp_path: Path, remote, ec_key) -> None:
    import importlib.util
    import os
    import subprocess
    import sys

    ref, desc = pushed
    target = _target(registry, repo_name, remote)
    signatures.sign(target, desc, target.name, signatures.KeySigner(ec_key), created=CREATED)
    (tmp_path / "release.pub").write_bytes(keys.public_pem(ec_key))
    out, sig = tmp_path / "model", tmp_path / "model.sig"
    result = transfer.pull_to_dir(ref, out, remote=remote, verify=signatures.KeyVerifier(ec_key.public_key()),
                                  model_signature=sig)
    assert result.digest == desc.digest and sig.exists()
    with pytest.raises(Exception, match="exists"):
        transfer.pull_to_dir(ref, tmp_path / "again", remote=remote, model_signature=sig)
    assert not (tmp_path / "again").exists()
    if importlib.util.find_spec("model_signing") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("model_signing is not installed (the test extra installs it)")
        pytest.skip("pip install model-signing pyOpenSSL")
    done = subprocess.run([sys.executable, "-m", "model_signing", "verify", "key", "--signature", str(sig),
                           "--public_key", str(tmp_path / "release.pub"), str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
