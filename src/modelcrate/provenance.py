"""Provenance facts for ``attest --type provenance`` when no predicate file is given.

Three sources, each read at the edge and passed to one pure builder:

* the model's metadata lineage (base model, datasets with digests, code repository and commit), which
  becomes SLSA ``resolvedDependencies`` through :func:`modelcrate.signing.predicates.slsa_provenance`;
* git facts of a working directory: ``HEAD``, the ``origin`` remote URL (credentials stripped) and a
  dirty flag. Only local ``git`` plumbing runs; nothing touches the network;
* environment facts: a whitelisted set of CI variables (GitHub Actions, GitLab CI, or a generic ``CI``),
  the Python and modelcrate versions. Never the hostname, the user name, or any other variable.

Example:

>>> predicate = build_provenance({"name": "m", "version": "1"}, git=None, ci={}, tools={"modelcrate": "0.1.0"})
>>> predicate["runDetails"]["builder"]["id"]
'https://modelcrate.dev/builders/local/v1'
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import __version__
from .signing import predicates

BUILD_TYPE = "https://modelcrate.dev/buildtypes/model/v1"
LOCAL_BUILDER = "https://modelcrate.dev/builders/local/v1"
_GIT_TIMEOUT = 10.0
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

# CI variables we record, per provider; nothing else from the environment is ever read.
_GITHUB = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_WORKFLOW_REF", "GITHUB_RUN_ID",
           "GITHUB_RUN_ATTEMPT", "GITHUB_SHA", "GITHUB_REF", "GITHUB_EVENT_NAME", "RUNNER_ENVIRONMENT")
_GITLAB = ("CI_SERVER_URL", "CI_PROJECT_PATH", "CI_PIPELINE_ID", "CI_JOB_ID", "CI_JOB_URL", "CI_COMMIT_SHA",
           "CI_COMMIT_REF_NAME", "CI_PIPELINE_SOURCE", "CI_RUNNER_ID")


def strip_credentials(url: str) -> str:
    """A remote URL without anything that can hold a secret: user name and password (``https://tok@host/x``
    → ``https://host/x``), the query string and the fragment (``?private_token=…``, ``#…``), and the
    password of an scp-like remote (``user:token@host:path`` → ``host:path``).

    >>> strip_credentials("https://user:secret@git.example.com/team/m.git?token=x#y")
    'https://git.example.com/team/m.git'
    >>> strip_credentials("oauth2:glpat-123@gitlab.example.com:team/m.git")
    'gitlab.example.com:team/m.git'
    >>> strip_credentials("git@github.com:team/m.git")
    'git@github.com:team/m.git'
    """
    parts = urlsplit(url)
    if parts.scheme and "://" in url:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query="", fragment=""))
    scp = _SCP_LIKE.fullmatch(url)
    if scp and (":" in scp["user"] or "@" in scp["user"]):  # a bare ssh user ("git@") holds no secret
        return scp["rest"]
    return url


# ``[user[:password]@]host:path``, the last ``@`` before ``host:`` ending the user part
_SCP_LIKE = re.compile(r"(?P<user>.*)@(?P<rest>[^@/:]+:.*)", re.DOTALL)

# Local config of a work tree is written by whoever wrote the tree: it must not choose what runs. Every
# setting through which git can execute a command during rev-parse, config or status is overridden on
# the command line (which wins over every config file); filter drivers, whose names are arbitrary, are
# listed first and disabled one by one (:func:`_filter_overrides`).
_HARDENED = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.pager=cat",
             "-c", "diff.external=", "-c", "credential.helper=", "-c", "core.sshCommand=false",
             "-c", "protocol.allow=never", "-c", "core.untrackedCache=false", "--no-pager")
_ENV_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


def _git_env() -> dict[str, str]:
    """Only what git needs to find itself and the user's own config; no GIT_* steering from outside."""
    env = {k: os.environ[k] for k in _ENV_KEPT if k in os.environ}
    return {**env, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0",
            "GIT_PAGER": "cat", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true", "GIT_EXTERNAL_DIFF": ""}


def _git(cwd: Path, *args: str, overrides: tuple[str, ...] = ()) -> str | None:
    try:
        done = subprocess.run(["git", *_HARDENED, *overrides, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT, check=False, env=_git_env(), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _filter_overrides(cwd: Path) -> tuple[str, ...]:
    """``-c`` options that empty every filter driver the config defines (status would run them)."""
    names = _git(cwd, "config", "--name-only", "--get-regexp", r"^filter\.") or ""
    drivers = {n.split(".", 1)[1].rsplit(".", 1)[0] for n in names.splitlines() if n.count(".") >= 2}
    out: list[str] = []
    for driver in sorted(drivers):
        for key in ("clean", "smudge", "process"):
            out += ["-c", f"filter.{driver}.{key}="]
        out += ["-c", f"filter.{driver}.required=false"]
    return tuple(out)


def git_facts(cwd: Path | str) -> dict[str, Any] | None:
    """``{"commit", "remote"?, "dirty"}`` for the git work tree at ``cwd``; None outside one or without git.

    git runs with hardened settings (no fsmonitor, hooks, pager, external diff, credential helper,
    filter driver or submodule recursion; no system config; a minimal environment), so a planted
    ``.git/config`` cannot make ``attest`` run a command."""
    cwd = Path(cwd)
    commit = _git(cwd, "rev-parse", "HEAD")
    if not commit or not _COMMIT.fullmatch(commit):
        return None
    facts: dict[str, Any] = {"commit": commit}
    remote = _git(cwd, "config", "--get", "remote.origin.url")
    if remote:
        facts["remote"] = strip_credentials(remote)
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no", "--ignore-submodules=all",
                  overrides=_filter_overrides(cwd))
    facts["dirty"] = bool(status) if status is not None else None
    return facts


def ci_facts(env: Mapping[str, str]) -> dict[str, str]:
    """The whitelisted CI variables present in ``env``, plus ``provider``; {} outside CI.

    >>> ci_facts({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "7", "HOME": "/root"})
    {'provider': 'github-actions', 'GITHUB_RUN_ID': '7'}
    """
    if env.get("GITHUB_ACTIONS") == "true":
        names, provider = _GITHUB, "github-actions"
    elif env.get("GITLAB_CI") == "true":
        names, provider = _GITLAB, "gitlab-ci"
    elif env.get("CI"):
        return {"provider": "ci"}
    else:
        return {}
    return {"provider": provider, **{k: env[k] for k in names if env.get(k)}}


def tool_versions() -> dict[str, str]:
    """The versions that shaped the artifact: modelcrate and Python."""
    return {"modelcrate": __version__, "python": platform.python_version()}


def _builder_id(ci: Mapping[str, str]) -> str:
    if ci.get("provider") == "github-actions" and ci.get("GITHUB_WORKFLOW_REF"):
        server = ci.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{ci['GITHUB_WORKFLOW_REF']}"
    if ci.get("provider") == "gitlab-ci" and ci.get("CI_SERVER_URL") and ci.get("CI_PROJECT_PATH"):
        return f"{ci['CI_SERVER_URL']}/{ci['CI_PROJECT_PATH']}/-/runners/{ci.get('CI_RUNNER_ID', 'unknown')}"
    return LOCAL_BUILDER


def _invocation_id(ci: Mapping[str, str]) -> str | None:
    if ci.get("provider") == "github-actions" and ci.get("GITHUB_RUN_ID") and ci.get("GITHUB_REPOSITORY"):
        server = ci.get("GITHUB_SERVER_URL", "https://github.com")
        attempt = ci.get("GITHUB_RUN_ATTEMPT", "1")
        return f"{server}/{ci['GITHUB_REPOSITORY']}/actions/runs/{ci['GITHUB_RUN_ID']}/attempts/{attempt}"
    if ci.get("provider") == "gitlab-ci" and ci.get("CI_JOB_URL"):
        return ci["CI_JOB_URL"]
    return None


def _source_dependency(git: Mapping[str, Any]) -> dict[str, Any]:
    rd: dict[str, Any] = {}
    remote = git.get("remote")
    if remote:  # a repository without a remote is still identified by its commit
        rd["uri"] = remote if str(remote).startswith("git+") else f"git+{remote}"
    annotations: dict[str, Any] = {"role": "build-source"}
    if git.get("dirty") is not None:
        annotations["dirty"] = bool(git["dirty"])
    return {**rd, "digest": {"gitCommit": git["commit"]}, "annotations": annotations}


def build_provenance(
    metadata: Mapping[str, Any],
    *,
    git: Mapping[str, Any] | None,
    ci: Mapping[str, str],
    tools: Mapping[str, str],
) -> dict[str, Any]:
    """An SLSA Provenance v1 predicate from the model's metadata, git facts and environment facts (pure).

    The lineage gives ``resolvedDependencies`` (see :func:`~modelcrate.signing.predicates.lineage_dependencies`);
    the working tree the attestation was made from is added as a ``build-source`` dependency unless it is
    the lineage's own code commit. ``externalParameters`` name the model and its training parameters;
    ``internalParameters`` carry the CI facts and tool versions.
    """
    metadata = metadata or {}
    external: dict[str, Any] = {"model": {k: metadata[k] for k in ("name", "version") if metadata.get(k)}}
    if isinstance(metadata.get("training_parameters"), Mapping):
        external["training_parameters"] = dict(metadata["training_parameters"])
    internal: dict[str, Any] = {"tools": dict(tools)}
    if ci:
        internal["ci"] = dict(ci)
    extra: list[dict[str, Any]] = []
    lineage: Mapping[str, Any] = metadata["lineage"] if isinstance(metadata.get("lineage"), Mapping) else {}
    code: Mapping[str, Any] = lineage["code"] if isinstance(lineage.get("code"), Mapping) else {}
    if git and git.get("commit") and git.get("commit") != code.get("commit"):
        extra.append(_source_dependency(git))
    return predicates.slsa_provenance(
        metadata,
        builder_id=_builder_id(ci),
        build_type=BUILD_TYPE,
        external_parameters=external,
        internal_parameters=internal,
        invocation_id=None if lineage.get("training_run") else _invocation_id(ci),
        extra_dependencies=extra,
    )
