"""The ``modelcrate`` click group, the options shared by command families, and error mapping.

Command modules import the group from here and register on it; this module imports none of them. The
group loads a command's module only when that command runs or shows its help: ``modelcrate --help``
lists the commands from the static table below, so it imports neither the signing nor the HTTP stack.
Errors are one line on stderr and a non-zero exit (``--debug`` shows the traceback).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from .. import __version__
from ..config import Config
from ..errors import ModelcrateError, UsageError
from .render import printable
from .wording import flag_wording

# name -> (module under modelcrate.cli, one-line help shown by `modelcrate --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("store", "Write DIRECTORY/modelcrate.yaml, classifying the files found there."),
    "pack": ("store", "Pack DIRECTORY into the local store as a ModelPack artifact."),
    "list": ("store", "List the models in the local store."),
    "inspect": ("store", "Show a model's metadata, files and digest."),
    "unpack": ("store", "Write a model's files into DIRECTORY, verifying every byte."),
    "tag": ("store", "Give a model in the local store another name or tag."),
    "rm": ("store", "Remove tags from the local store; content nothing else uses is freed."),
    "push": ("transfer", "Push a model to a registry; print its digest."),
    "pull": ("transfer", "Pull a model into the local store, or with -o straight into a directory; print its "
                         "digest."),
    "copy": ("transfer", "Copy a model between registries or repositories, with its signatures; print its digest."),
    "tags": ("transfer", "List the tags of a registry repository, sorted."),
    "catalog": ("transfer", "List the repositories of a registry (where the registry allows it)."),
    "login": ("transfer", "Log in to a registry: check the credentials, then store them in the docker config."),
    "logout": ("transfer", "Forget the stored credentials for a registry."),
    "keygen": ("signing", "Generate a signing key pair: PREFIX.key (encrypted PEM) and PREFIX.pub."),
    "sign": ("signing", "Sign a model: store a Sigstore bundle over its manifest digest as a referrer."),
    "verify": ("signing", "Verify a model's signatures; exit non-zero unless one passes."),
    "attest": ("signing", "Attach a signed attestation (in-toto statement about the manifest digest) to a model."),
    "verify-attestation": ("signing", "Verify a model's attestations of one type; exit non-zero unless one passes."),
    "discover": ("signing", "Show the signatures, attestations and other referrers of a model as a tree."),
    "approve": ("governance", "Approve a model for a stage: a signed record bound to its digest and the stage."),
    "reject": ("governance", "Reject a model for a stage: a signed record that blocks promotion."),
    "policy": ("governance", "Check a model against the rules of a policy file, rule by rule."),
    "import": ("importing", "Write modelcrate.yaml from a Hugging Face, MLflow, KitOps or modctl model."),
    "scan": ("importing", "Find files that run code when loaded (pickles) in a directory, a file or a model."),
    "convert": ("importing", "Re-package a KitOps ModelKit or another tool's ModelPack artifact as a modelcrate "
                             "model."),
    "search": ("discovery", "Find models by metadata, metrics, stage and lineage across a registry."),
    "diff": ("discovery", "Show what changed from model OLD to model NEW, without downloading weights."),
    "lineage": ("discovery", "Show what a model was built from: base models (recursively) and datasets."),
    "storage-initializer": ("discovery", "Pull a model for KServe: STORAGE_URI (modelcrate://REGISTRY/REPO@sha256:…) "
                                         "into DEST."),
    "export": ("discovery", "Export model REF as an OCI image DST that serving platforms run (a KServe modelcar)."),
    "promote": ("lifecycle", "Promote a model into a stage: check the policy, move the stage tag, append a signed "
                             "record."),
    "rollback": ("lifecycle", "Move a stage back to the model it held before, recorded as a rollback."),
    "demote": ("lifecycle", "Empty a stage (resolving it then fails), recorded as a demote; `rollback` puts the "
                            "model back."),
    "deprecate": ("lifecycle", "Sign a deprecation of a model: resolve warns, and a policy can refuse it."),
    "retire": ("lifecycle", "Take a model out of every stage, record its retirement, optionally delete its version "
                            "tag."),
    "history": ("lifecycle", "Print the verified history of a repository's stages: who promoted what, when, why, on "
                             "what evidence."),
    "status": ("lifecycle", "Every version of a repository: digest, created, stages, signatures, approvals, "
                            "deprecation."),
    "resolve": ("lifecycle", "Print NAME@sha256:… for a version or stage tag: the line a deployment pins."),
    "deployment": ("records", "Record where a model runs: signed deployment records attached to the model."),
    "deployments": ("records", "What ran where, when: every verified deployment record of a repository, and what "
                               "runs now."),
    "attach": ("records", "Attach a document (report, assessment, SBOM, licence…) to a model as a signed "
                          "referrer."),
    "attachment": ("records", "List and fetch the documents attached to a model, each checked against its signed "
                              "record."),
    "events": ("records", "Every governance event of a repository or registry, verified, in time order, as JSON "
                          "lines."),
    "report": ("report", "Write a model's audit report: card, files, lineage, signatures, approvals, history, "
                         "deployments, metrics, documents, scan, policy per stage, and the Annex IV / NIST AI RMF "
                         "mapping."),
    "metrics": ("records", "Metrics over versions and time: the metadata's and those of verified evaluations "
                           "(incl. production)."),
}


class _Group(click.Group):
    """Loads command modules on demand and maps every error to one line and an exit code, at one place."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"{__package__}.{COMMANDS[cmd_name][0]}")  # registers its commands
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, click.utils.make_default_short_help(COMMANDS[name][1], limit))
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ModelcrateError as exc:
            _fail(ctx, flag_wording(exc).diagnostics(), exc.exit_code, exc)
        except KeyboardInterrupt as exc:
            _fail(ctx, "interrupted; nothing partial was kept", 130, exc)
        except OSError as exc:
            _fail(ctx, f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", 1, exc)
        except Exception as exc:  # a bug: say so, keep the traceback for --debug
            _fail(ctx, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", 70, exc)


def _fail(ctx: click.Context, message: str, code: int, exc: BaseException) -> NoReturn:
    if (ctx.obj or {}).get("debug"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"modelcrate: error: {printable(message)}", err=True)
    ctx.exit(code)
    raise AssertionError("unreachable")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="modelcrate")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Package, store and move machine-learning models as OCI artifacts.

    The local store is an OCI image layout at $MODELCRATE_HOME (default: ~/.local/share/modelcrate).

    \b
    Example:
      modelcrate init ./my-model
      modelcrate pack ./my-model -t my-model:1.0.0
      modelcrate inspect my-model:1.0.0
      modelcrate unpack my-model:1.0.0 ./out
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# ---- shared output ------------------------------------------------------------------------------------
def emit_json(value: Any) -> None:
    """Every command's --json output: indented, sorted keys, on stdout."""
    click.echo(json.dumps(value, indent=2, sort_keys=True))


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
follow_symlinks_option = click.option(
    "--follow-external-symlinks", is_flag=True,
    help="Pack the targets of symlinks that point outside the directory (refused by default).")


# ---- configuration, resolved here once ------------------------------------------------------------------
def config(**overrides: Any) -> Config:
    """The configuration of this run: the environment, plus what the flags say."""
    return Config.from_env(os.environ, **overrides)


def remote_option_list(ca_option: str = "--ca-file") -> list[Callable[[Any], Any]]:
    """The registry connection options. Signing commands name the CA option ``--registry-ca-file``,
    since their own ``--ca-file`` is the signers' PKI."""
    return [
        click.option("--plain-http", is_flag=True, help="Talk plain HTTP (default only for localhost)."),
        click.option("--insecure", is_flag=True, help="Use TLS but do not verify the registry's certificate."),
        click.option(ca_option, type=click.Path(dir_okay=False, exists=True),
                     help="Trust this CA bundle (PEM) for the registry, in addition to the system CAs."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
                     help="Seconds without progress before a request is given up (then retried)."),
    ]


max_time_option = click.option("--max-time", type=click.FloatRange(min=0.1), default=None,
                                help="Give up the whole operation after this many seconds (default: no limit).")


def remote_settings(plain_http: bool, insecure: bool, ca_file: str | None, timeout: float,
                    max_time: float | None = None) -> Any:
    """The :class:`~modelcrate.content.remote.RemoteSettings` the registry options ask for."""
    if plain_http and (insecure or ca_file):
        raise UsageError("--plain-http cannot be combined with --insecure or --ca-file")
    from ..content.remote.http import Timeout
    from ..content.remote.registry import RemoteSettings

    base = config()
    return RemoteSettings(plain_http=plain_http, insecure=insecure, ca_file=ca_file,
                          timeout=Timeout(connect=min(10.0, timeout), read=timeout, total=max_time),
                          docker_config=base.docker_config)


def registry_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the registry connection options to a command and hands it one ``config`` argument instead."""
    import functools

    @functools.wraps(f)
    def wrapper(*args: Any, plain_http: bool, insecure: bool, ca_file: str | None, timeout: float,
                max_time: float | None, **kwargs: Any) -> Any:
        remote = remote_settings(plain_http, insecure, ca_file, timeout, max_time)
        return f(*args, config=config(remote=remote), **kwargs)

    for option in reversed([*remote_option_list(), max_time_option]):
        wrapper = option(wrapper)
    return wrapper
