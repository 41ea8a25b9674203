"""The examples in the docstrings of the signing operations stay true."""

from __future__ import annotations

import doctest

from modelcrate import provenance


def test_provenance_examples() -> None:
    result = doctest.testmod(provenance, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_ci_facts_are_whitelisted() -> None:
    env = {"GITLAB_CI": "true", "CI_JOB_URL": "https://gitlab.example/j/1", "CI_JOB_TOKEN": "secret",
           "CI_PROJECT_PATH": "g/p", "CI_SERVER_URL": "https://gitlab.example", "HOSTNAME": "builder-7"}
    facts = provenance.ci_facts(env)
    assert facts == {"provider": "gitlab-ci", "CI_SERVER_URL": "https://gitlab.example", "CI_PROJECT_PATH": "g/p",
                     "CI_JOB_URL": "https://gitlab.example/j/1"}
    predicate = provenance.build_provenance({}, git=None, ci=facts, tools={"modelcrate": "0"})
    assert predicate["runDetails"]["builder"]["id"] == "https://gitlab.example/g/p/-/runners/unknown"
    assert predicate["runDetails"]["metadata"]["invocationId"] == "https://gitlab.example/j/1"
    assert "secret" not in repr(predicate) and "builder-7" not in repr(predicate)
    assert provenance.ci_facts({"CI": "1"}) == {"provider": "ci"}


def test_git_facts_outside_a_repository(tmp_path) -> None:
    assert provenance.git_facts(tmp_path) is None
