"""The ``modelcrate`` click group, the options shared by command families, and error mapping.

Command modules import the group from here and register on it; this module imports none of them. The
group loads a command's module only when that command runs or shows its help: ``modelcrate --help``
lists the commands from the static table below, so it imports neither the signing nor the HTTP stack.
Errors are one line on stderr and a non-zero exit (``--debug`` shows the traceback); under ``--json`` the
error is also printed on stdout as ``{"error": {...}}`` (spec/cli-json.md).

A new command family is one module under ``cli/`` whose commands register on :data:`cli`, plus one row
per command in :data:`COMMANDS`; its ``--json`` output is a ``to_dict()`` of a :mod:`modelcrate.results`
record, printed with :func:`emit_json`.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from .. import __version__
from ..config import Config
from ..errors import INTERRUPTED_HINT, ModelcrateError, UsageError
from .render import printable
from .wording import flag_wording

# name -> (module under modelcrate.cli, one-line help shown by `modelcrate --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("store", "Write DIRECTORY/modelcrate.yaml, classifying the files found there."),
    "pack": ("store", "Pack DIRECTORY into the local store as a ModelPack artifact."),
    "list": ("store", "List the models in the local store."),
    "inspect": ("reads", "Show a model's metadata, files and digest (local store or registry)."),
    "digest": ("reads", "Print the manifest digest a reference names (local store or registry)."),
    "manifest": ("reads", "Print a model's manifest bytes exactly as stored (local store or registry)."),
    "delete": ("reads", "Delete a manifest from a registry, by digest (where the registry allows it)."),
    "unpack": ("store", "Write a model's files into DIRECTORY, verifying every byte."),
    "tag": ("reads", "Give a model another name or tag, in the local store or on its registry."),
    "rm": ("store", "Remove tags from the local store; content nothing else uses is freed."),
    "prune": ("housekeeping", "Free local-store space: untagged content and leftovers of interrupted runs."),
    "df": ("housekeeping", "Show the local store's size by repository and what prune would free."),
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
    "version": ("about", "Show modelcrate's version, the spec versions it implements and its dependencies."),
    "completion": ("about", "Print the shell completion script for bash, zsh or fish."),
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

# Flags of the group that users habitually put after the subcommand (`modelcrate pull REF --debug`).
GLOBAL_FLAGS = ("--debug", "-v", "--verbose")


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

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The store this run would use, resolved as every command resolves it ($MODELCRATE_HOME, XDG...).
        original = self.help
        self.help = (original or "").replace("{store}", str(config().home))
        try:
            super().format_help_text(ctx, formatter)
        finally:
            self.help = original

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The group's own flags are accepted anywhere before `--`: move them in front of the subcommand.
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
        rest = [a for a in args[:end] if a not in GLOBAL_FLAGS] + args[end:]
        ctx.meta["modelcrate.json"] = "--json" in rest[:end]
        return super().parse_args(ctx, flags + rest)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except click.ClickException as exc:
            if ctx.meta.get("modelcrate.json"):
                _json_error(exc.format_message(), "", exc.exit_code)
            raise
        except ModelcrateError as exc:
            worded = flag_wording(exc)
            _fail(ctx, worded.diagnostics(), exc.exit_code, exc, message=str(worded), hint=worded.hint)
        except KeyboardInterrupt as exc:
            _fail(ctx, f"interrupted; {INTERRUPTED_HINT}", 130, exc)
        except BrokenPipeError:  # `modelcrate … | head`: the reader has gone; stop quietly, as cat does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except OSError as exc:
            _fail(ctx, f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", 1, exc)
        except Exception as exc:  # a bug: say so, keep the traceback for --debug
            _fail(ctx, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", 70, exc)


def _json_error(message: str, hint: str, code: int) -> None:
    emit_json(error_object(message, hint, code))


def error_object(message: str, hint: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "hint": hint, "exit_code": code}}


def reported_in_json() -> None:
    """Say that this command's --json document already holds its failure (a verdict with its evidence,
    as ``scan`` prints), so the error that follows is not printed as a second document."""
    click.get_current_context().meta["modelcrate.json"] = False


def _fail(ctx: click.Context, line: str, code: int, exc: BaseException, *, message: str | None = None,
          hint: str = "") -> NoReturn:
    if (ctx.obj or {}).get("debug"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if ctx.meta.get("modelcrate.json"):
        _json_error(message if message is not None else line, hint, code)
    click.echo(f"modelcrate: error: {printable(line)}", err=True)
    ctx.exit(code)
    raise AssertionError("unreachable")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="modelcrate")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (also accepted after the command).")
@click.option("-v", "--verbose", is_flag=True,
              help="Trace every HTTP request on stderr: method, URL, status, time (never headers or secrets).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Package, store and move machine-learning models as OCI artifacts.

    The local store is an OCI image layout at {store} (set $MODELCRATE_HOME to move it; default
    $XDG_DATA_HOME/modelcrate, else ~/.local/share/modelcrate).

    \b
    Example:
      modelcrate init ./my-model
      modelcrate pack ./my-model -t my-model:1.0.0
      modelcrate inspect my-model:1.0.0
      modelcrate unpack my-model:1.0.0 ./out
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["verbose"] = verbose


# ---- shared output ------------------------------------------------------------------------------------
def emit_json(value: Any) -> None:
    """Every command's --json output: indented, sorted keys, on stdout."""
    click.echo(json.dumps(value, indent=2, sort_keys=True))


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
follow_symlinks_option = click.option(
    "--follow-external-symlinks", is_flag=True,
    help="Pack the targets of symlinks that point outside the directory (refused by default).")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress and no summary on stderr.")


def complete_refs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for a REF argument: the references of the local store that start with ``incomplete``."""
    from click.shell_completion import CompletionItem

    from .. import api

    try:
        rows = api.list_models(config=config())
    except Exception:  # an unreadable store completes nothing rather than printing an error into the shell
        return []
    return [CompletionItem(r.reference) for r in rows if r.reference.startswith(incomplete)]


class KindChoice(click.Choice):  # type: ignore[type-arg]
    """A layer kind: the names of spec/format.md or the aliases modelcrate.yaml accepts (``weights``, ``docs``...)."""

    def __init__(self) -> None:
        from ..format.mediatypes import KIND_ALIASES, KINDS

        self.aliases = KIND_ALIASES
        super().__init__([*KINDS, *KIND_ALIASES])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        chosen = super().convert(value, param, ctx)
        return self.aliases.get(chosen, chosen)


def kind_option(help_text: str) -> Callable[[Any], Any]:
    return click.option("--filter", "kinds", multiple=True, type=KindChoice(), help=help_text)


def options(*decorators: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Several click options as one decorator, applied in the order listed."""
    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(decorators):
            f = option(f)
        return f

    return apply


# ---- configuration, resolved here once ------------------------------------------------------------------
def config(**overrides: Any) -> Config:
    """The configuration of this run: the environment, plus what the flags say."""
    return Config.from_env(os.environ, **overrides)


DEFAULT_RETRIES = 4
_REGISTRY_CA = "--registry-ca-file"


def _remote_option_list(legacy_ca_file: bool) -> list[Callable[[Any], Any]]:
    legacy = [
        # The earlier spelling on push/pull/login/...: kept working, hidden, with a deprecation warning.
        click.option("--ca-file", "legacy_ca_file", type=click.Path(dir_okay=False, exists=True), hidden=True,
                     callback=deprecated_alias(_REGISTRY_CA))] if legacy_ca_file else []
    return [*legacy,
        click.option("--plain-http", is_flag=True, help="Talk plain HTTP (default only for localhost)."),
        click.option("--insecure", is_flag=True, help="Use TLS but do not verify the registry's certificate."),
        click.option(_REGISTRY_CA, "registry_ca_file", type=click.Path(dir_okay=False, exists=True),
                     help="Trust this CA bundle (PEM) for the registry, in addition to the system CAs."),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
                     help="Seconds without progress before a request is given up (then retried)."),
        click.option("--retries", type=click.IntRange(0, 20), default=DEFAULT_RETRIES, show_default=True,
                     help="Times a failed request is tried again (with backoff) before the command gives up."),
    ]


max_time_option = click.option("--max-time", type=click.FloatRange(min=0.1), default=None,
                                help="Give up the whole operation after this many seconds (default: no limit).")


def deprecated_alias(new: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def warn(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            click.echo(f"modelcrate: warning: {param.opts[0]} is deprecated here; use {new}", err=True)
        return value

    return warn


def remote_settings(plain_http: bool, insecure: bool, ca_file: str | None, timeout: float,
                    retries: int = DEFAULT_RETRIES, trace: Callable[[str], None] | None = None,
                    max_time: float | None = None) -> Any:
    """The :class:`~modelcrate.content.remote.RemoteSettings` the registry options ask for."""
    if plain_http and (insecure or ca_file):
        raise UsageError(f"--plain-http cannot be combined with --insecure or {_REGISTRY_CA}")
    from dataclasses import replace

    from ..content.remote.settings import RemoteSettings, RetryPolicy, Timeout

    base = config()
    settings = RemoteSettings(plain_http=plain_http, insecure=insecure, ca_file=ca_file,
                              timeout=Timeout(connect=min(10.0, timeout), read=timeout, total=max_time),
                              retry=RetryPolicy(attempts=retries + 1), docker_config=base.docker_config)
    return replace(settings, trace=trace) if trace is not None else settings


def _tracer() -> Callable[[str], None] | None:
    ctx = click.get_current_context(silent=True)
    if ctx is None or not (ctx.find_root().obj or {}).get("verbose"):
        return None
    return lambda line: click.echo(f"http: {printable(line)}", err=True)


def registry_options(f: Callable[..., Any] | None = None, *, legacy_ca_file: bool = True) -> Any:
    """Adds the registry connection options to a command and hands it one ``config`` argument instead.

    ``legacy_ca_file=False`` for commands whose ``--ca-file`` meant something else (the signing CA)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def wrapper(*args: Any, plain_http: bool, insecure: bool, registry_ca_file: str | None, timeout: float,
                    retries: int, max_time: float | None, legacy_ca_file: str | None = None, **kwargs: Any) -> Any:
            remote = remote_settings(plain_http, insecure, registry_ca_file or legacy_ca_file, timeout, retries,
                                     _tracer(), max_time)
            return f(*args, config=config(remote=remote), **kwargs)

        return options(*_remote_option_list(legacy_ca_file), max_time_option)(wrapper)

    return decorate(f) if f is not None else decorate


# The options of a command on one model in the local store or a registry (sign, verify, approve, import, …).
target_options = options(
    click.option("--local", is_flag=True, help="Use the local store even when REF names a registry."),
    registry_options(legacy_ca_file=False),
)
