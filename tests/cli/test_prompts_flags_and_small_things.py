"""Prompts and credentials, flags that mean one thing, and the small things users notice first."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import cli_path
from tests.support.registry import RegistryProcess


def _cli(home: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "MODELCRATE_HOME": str(home), **(env or {})}
    for name in ("MODELCRATE_KEY_PASSWORD", "COSIGN_PASSWORD"):
        if name not in (env or {}):
            full.pop(name, None)
    return subprocess.run([cli_path(), *args], capture_output=True, text=True, env=full, timeout=120,
                          input=input, stdin=None if input is not None else subprocess.DEVNULL)


@pytest.fixture
def signable(mc, example: Path, home: Path, tmp_path: Path) -> str:
    assert mc("pack", str(example), "-t", "tiny:1.0").exit_code == 0
    assert mc("keygen").exit_code == 0
    return "tiny:1.0"


# ---- prompts and credentials -------------------------------------------------------------------------------
def test_signing_without_a_password_or_a_terminal_says_which_variable_to_set(signable: str, home: Path,
                                                                              tmp_path: Path) -> None:
    r = _cli(home, "sign", signable, "--key", str(tmp_path / "modelcrate.key"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "modelcrate: error: the private key needs a password and there is no terminal to ask: "
        "set MODELCRATE_KEY_PASSWORD"]  # was a GetPassWarning and "Aborted!"


def test_a_missing_reference_fails_before_the_password_is_asked(signable: str, home: Path, tmp_path: Path) -> None:
    r = _cli(home, "sign", "nothing:1", "--key", str(tmp_path / "modelcrate.key"))
    assert r.returncode == 3 and "not in the local store" in r.stderr and "password" not in r.stderr


def test_cosign_password_and_cosign_flag_spellings_are_accepted(signable: str, home: Path, tmp_path: Path) -> None:
    from tests.cli.conftest import PASSWORD

    r = _cli(home, "sign", signable, "--key", str(tmp_path / "modelcrate.key"), env={"COSIGN_PASSWORD": PASSWORD})
    assert r.returncode == 0, r.stderr
    r = _cli(home, "verify", signable, "--certificate-identity", "me@example.com")
    assert r.returncode == 2 and "both --cert-identity and --cert-oidc-issuer" in r.stderr


def test_a_wrong_key_password_is_a_usage_error_not_a_signature_failure(signable: str, home: Path,
                                                                        tmp_path: Path) -> None:
    r = _cli(home, "sign", signable, "--key", str(tmp_path / "modelcrate.key"),
             env={"MODELCRATE_KEY_PASSWORD": "wrong"})
    assert r.returncode == 2 and "wrong password" in r.stderr


def _converse(args: list[str], env: dict[str, str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, typing each answer when its prompt appears."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([cli_path(), *args], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    shown, deadline = "", time.monotonic() + 60
    pending = list(answers)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk.decode("utf-8", "replace")
        if pending and pending[0][0] in shown:
            os.write(master, pending.pop(0)[1].encode() + b"\n")
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, shown


def test_login_prompts_for_the_username_and_says_where_and_how_it_stored_it(
        htpasswd_registry: RegistryProcess, home: Path, docker_config: Path) -> None:
    env = {**os.environ, "MODELCRATE_HOME": str(home), "DOCKER_CONFIG": str(docker_config)}
    code, shown = _converse(["login", htpasswd_registry.host], env,
                            [("Username:", htpasswd_registry.username), ("Password:", htpasswd_registry.password)])
    assert code == 0, shown
    assert "Login Succeeded" in shown and str(docker_config / "config.json") in shown and "base64" in shown
    assert htpasswd_registry.password not in shown
    r = _cli(home, "login", htpasswd_registry.host, "--password-stdin", input="x\n")
    assert r.returncode == 2 and "-u/--username" in r.stderr


# ---- flags that mean one thing -----------------------------------------------------------------------------
def test_registry_ca_and_signing_ca_have_their_own_names(mc, signable: str, registry: RegistryProcess,
                                                         tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("not used: localhost is plain HTTP\n")
    assert "--registry-ca-file" in mc("push", "--help").stdout and "--ca-file" not in mc("push", "--help").stdout
    verify_help = mc("verify", "--help").stdout
    assert "--ca-roots" in verify_help and "--registry-ca-file" in verify_help and "--ca-file" not in verify_help
    old = mc("tags", f"{registry.host}/nothing/here", "--ca-file", str(pem))
    assert "--ca-file is deprecated here; use --registry-ca-file" in old.stderr
    old = mc("verify", signable, "--ca-file", str(pem))
    assert "--ca-file is deprecated here; use --ca-roots" in old.stderr


def test_debug_is_accepted_after_the_command(mc) -> None:
    r = mc("inspect", "nothing:here", "--debug")
    assert r.exit_code == 3 and "Traceback" in r.stderr


def test_v_traces_http_without_secrets(htpasswd_registry: RegistryProcess, example: Path, home: Path,
                                       docker_config: Path) -> None:
    r = _cli(home, "login", htpasswd_registry.host, "-u", htpasswd_registry.username, "--password-stdin",
             env={"DOCKER_CONFIG": str(docker_config)}, input=htpasswd_registry.password + "\n")
    assert r.returncode == 0, r.stderr
    ref = f"{htpasswd_registry.host}/cli/trace:1"
    r = _cli(home, "push", str(example), ref, "-q", "-v", env={"DOCKER_CONFIG": str(docker_config)})
    assert r.returncode == 0, r.stderr
    trace = [line for line in r.stderr.splitlines() if line.startswith("http: ")]
    assert any(line.startswith(f"http: PUT http://{htpasswd_registry.host}/v2/cli/trace/manifests/1 201 ")
               for line in trace), trace
    assert any(" 401 " in line for line in trace)  # the challenge is shown, its answer is not
    assert htpasswd_registry.password not in r.stderr and "Authorization" not in r.stderr and "Basic " not in r.stderr
    assert all(line.endswith("ms") for line in trace)


# ---- small things ------------------------------------------------------------------------------------------
def test_version_names_the_specs_and_dependencies(mc) -> None:
    info = json.loads(mc("version", "--json").stdout)
    assert info["modelcrate"] and info["spec"]["modelpack"]["artifactType"].startswith("application/vnd.cncf.model")
    assert info["dependencies"]["click"] and "sigstore" in info["dependencies"]
    assert "ModelPack" in mc("version").stdout


def test_completion_scripts_and_local_reference_completion(mc, example: Path, home: Path) -> None:
    for shell in ("bash", "zsh", "fish"):
        r = mc("completion", shell)
        assert r.exit_code == 0 and "_MODELCRATE_COMPLETE" in r.stdout
    assert mc("pack", str(example), "-t", "team/bert:1.0").exit_code == 0
    env = {**os.environ, "MODELCRATE_HOME": str(home), "_MODELCRATE_COMPLETE": "bash_complete",
           "COMP_WORDS": "modelcrate inspect team/", "COMP_CWORD": "2"}
    done = subprocess.run([cli_path()], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split() == ["plain,team/bert:1.0"]


def test_init_on_an_empty_directory_says_no_files_found(mc, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = mc("init", str(tmp_path / "empty"))
    assert r.exit_code == 2 and "no files found" in r.stderr
    assert not (tmp_path / "empty" / "modelcrate.yaml").exists()


def test_a_metric_value_must_be_a_number_unless_declared_a_string(mc, tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    (root / "w.bin").write_bytes(b"w")
    text = "name: m\nversion: 1.0.0\nmetrics: [{{name: quality, value: high{}}}]\nfiles:\n  - {{path: w.bin, kind: weight}}\n"
    (root / "modelcrate.yaml").write_text(text.format(""))
    r = mc("pack", str(root), "-t", "m:1")
    assert r.exit_code == 2 and "line 3" in r.stderr and "'high' is not of type 'number'" in r.stderr
    (root / "modelcrate.yaml").write_text(text.format(", type: string"))
    assert mc("pack", str(root), "-t", "m:1").exit_code == 0
    assert json.loads(mc("inspect", "m:1", "--json").stdout)["metadata"]["metrics"][0]["value"] == "high"


def test_help_shows_the_store_this_run_uses(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MODELCRATE_HOME"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env["COLUMNS"] = "200"
    r = subprocess.run([cli_path(), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert f"{tmp_path / 'xdg' / 'modelcrate'}" in "".join(r.stdout.split())  # however the help wraps it


def test_list_quiet_filter_and_format(mc, example: Path) -> None:
    for ref in ("team/a:1.0", "team/a:2.0", "other/b:1.0"):
        assert mc("pack", str(example), "-t", ref).exit_code == 0
    assert mc("list", "-q").stdout.split() == ["other/b:1.0", "team/a:1.0", "team/a:2.0"]
    assert mc("list", "-q", "--filter", "name=team/*", "--filter", "tag=2.*").stdout.split() == ["team/a:2.0"]
    out = mc("list", "--format", "{name}|{tag}|{short}", "--filter", "name=other/*").stdout.strip()
    assert out.startswith("other/b|1.0|") and len(out.split("|")[2]) == 12
    bad = mc("list", "--format", "{nope}")
    assert bad.exit_code == 2 and "fields:" in bad.stderr
    assert mc("list", "--filter", "colour=red").exit_code == 2
