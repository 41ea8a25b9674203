"""The stage rule ``formats: {deny_unsafe_pickle: true}``: loaded from the file, evaluated purely over the
scan's reasons (failing closed when there was no scan), and gathered by scanning the model's verified files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from modelcrate import api, governance
from modelcrate.errors import InvalidPolicy
from modelcrate.policy import Evidence, evaluate, load_policy_file
from tests.support.artifacts import write_model

DIGEST = "sha256:" + "ab" * 32
RULE = "formats deny_unsafe_pickle"
POLICY = "stages:\n  production:\n    formats: {deny_unsafe_pickle: true}\n  dev: {}\n"
EVIL = pickle.dumps({"x": __import__("os").system}, protocol=2)  # imports os.system when loaded
BENIGN = pickle.dumps({"step": 3, "lr": [0.1, 0.01]}, protocol=4)  # builtins only


def _rules(decision) -> dict[str, tuple[bool | None, str]]:  # type: ignore[no-untyped-def]
    return {r.rule: (r.passed, r.reason) for r in decision.results}


def test_the_rule_is_loaded_per_stage(write_policy) -> None:
    policy = load_policy_file(write_policy(POLICY))
    assert policy.stages["production"].deny_unsafe_pickle and not policy.stages["dev"].deny_unsafe_pickle


def test_an_unknown_format_rule_is_one_error_line(write_policy) -> None:
    path = write_policy("stages:\n  production:\n    formats: {deny_pickle: true}\n")
    with pytest.raises(InvalidPolicy, match=r"policy.yaml:3: .*deny_pickle"):
        load_policy_file(path)


def test_evaluation_fails_closed(write_policy) -> None:
    policy = load_policy_file(write_policy(POLICY))
    not_scanned = _rules(evaluate(policy, Evidence(DIGEST, "production")))
    assert not_scanned[RULE] == (False, "the model's files were not scanned for unsafe pickles")
    unsafe = _rules(evaluate(policy, Evidence(DIGEST, "production", unsafe_pickles=("a.pkl: imports posix.system",))))
    assert unsafe[RULE] == (False, "a.pkl: imports posix.system")
    clean = evaluate(policy, Evidence(DIGEST, "production", unsafe_pickles=()))
    assert _rules(clean)[RULE][0] is True and clean.allowed
    assert RULE not in _rules(evaluate(policy, Evidence(DIGEST, "dev")))


def test_policy_check_scans_the_model(write_policy, settings, tmp_path: Path) -> None:
    policy = write_policy(POLICY)
    evil = write_model(tmp_path / "evil", {"model.safetensors": b"w" * 64, "state.pkl": EVIL})
    api.pack(evil, "team/evil:1", config=settings)
    benign = write_model(tmp_path / "benign", {"model.safetensors": b"w" * 64, "state.pkl": BENIGN})
    api.pack(benign, "team/benign:1", config=settings)

    refused = governance.check_policy("team/evil:1", stage="production", policy=policy, config=settings)
    passed, reason = _rules(refused.decision)[RULE]
    assert refused.decision.refused and passed is False
    assert "state.pkl" in reason and "system" in reason

    allowed = governance.check_policy("team/benign:1", stage="production", policy=policy, config=settings)
    assert _rules(allowed.decision)[RULE][0] is True and allowed.decision.allowed
