"""A pull policy with ``formats: {deny_unsafe_pickle: true}`` against a real registry:2: a signed model with
an unsafe pickle is refused, into a directory (nothing written) and into the local store (nothing tagged);
a signed model whose pickle imports only builtins goes through."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from modelcrate import api, signatures
from modelcrate.config import Config
from modelcrate.errors import InvalidPolicy, PolicyViolation
from modelcrate.signing import keys
from tests.support.artifacts import write_model

pytestmark = pytest.mark.registry

EVIL = pickle.dumps({"x": __import__("os").system}, protocol=3)  # imports os.system when loaded
BENIGN = pickle.dumps({"step": 3}, protocol=4)


def _publish(registry, settings: Config, tmp_path: Path, name: str, state: bytes,
             signer: signatures.Signer) -> str:
    ref = f"{registry.host}/scanpolicy/{name}:1"
    model = write_model(tmp_path / name, {"model.safetensors": b"w" * 64, "state.pkl": state})
    api.pack(model, ref, config=settings)
    api.push(ref, config=settings)
    api.sign(ref, signer, config=settings)
    return ref


def test_pull_policy_refuses_unsafe_pickles(registry, settings: Config, tmp_path: Path, run_cli) -> None:
    key = keys.generate("ecdsa-p256")
    signer = signatures.KeySigner(key)
    evil = _publish(registry, settings, tmp_path, "evil", EVIL, signer)
    benign = _publish(registry, settings, tmp_path, "benign", BENIGN, signer)
    (tmp_path / "release.pub").write_bytes(keys.public_pem(key))
    policy = tmp_path / "policy.yaml"
    policy.write_text("signers: [{key: release.pub}]\nformats: {deny_unsafe_pickle: true}\n")
    serving = Config(tmp_path / "serving-home")

    out = tmp_path / "out"
    with pytest.raises(PolicyViolation, match=r"deny_unsafe_pickle: state.pkl: .*system"):
        api.pull(evil, out, policy=policy, config=serving)
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(PolicyViolation, match="deny_unsafe_pickle") as refused:
        api.pull(evil, policy=policy, config=serving)
    assert "not tagged" in (refused.value.hint or "")
    assert api.list_models(config=serving) == []

    api.pull(benign, policy=policy, config=serving)
    assert [(m.name, m.tag) for m in api.list_models(config=serving)] == [(benign.rsplit(":", 1)[0], "1")]
    api.pull(benign, tmp_path / "benign-out", policy=policy, config=serving)
    assert (tmp_path / "benign-out" / "state.pkl").read_bytes() == BENIGN

    r = run_cli("pull", evil, "-o", str(tmp_path / "cli-out"), "--policy", str(policy))
    assert r.returncode == 6 and "deny_unsafe_pickle" in r.stderr and not (tmp_path / "cli-out").exists()


def test_formats_in_a_pull_policy_needs_signers(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("formats: {deny_unsafe_pickle: true}\n")
    with pytest.raises(InvalidPolicy, match="signers"):
        signatures.load_policy(policy)
