"""CLI commands that talk to registries: push, pull, copy, tags, catalog, login, logout.

Thin: parse, build the configuration once, call one :mod:`modelcrate.api` function, render. Digests and
``--json`` go to stdout; the summary and progress bars go to stderr (bars only when stderr is a terminal).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .. import api
from ..config import DEFAULT_CONCURRENCY, Config
from ..errors import UsageError
from ..results import TransferResult
from .app import (cli, config as run_config, emit_json, follow_symlinks_option, json_option, kind_option, quiet_option,
                  registry_options)
from .overwrite import overwrite_of, overwrite_options
from .progress import progress_for, showing
from .render import echo, human_size

if TYPE_CHECKING:
    from ..lifecycle.versions import Overwrite


# ---- shared options ---------------------------------------------------------------------------------
def _transfer_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY, show_default=True,
                     help="Blobs transferred in parallel."),
        quiet_option,
        click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _summary(verb: str, result: TransferResult, *, wire: int) -> str:
    parts = [f"{result.copied} copied ({human_size(result.bytes_copied)})"]
    if result.skipped:
        parts.append(f"{result.skipped} already there ({human_size(result.bytes_skipped)})")
    if result.mounted:
        parts.append(f"{result.mounted} mounted")
    if result.referrers:
        parts.append(f"{result.referrers} referrers")
    parts.append(f"{human_size(wire)} over the network")
    if result.rounds > 1:
        parts.append(f"resumed {result.rounds - 1}x")
    return f"{verb} {result.reference}: " + ", ".join(parts)


def _report(verb: str, result: TransferResult, *, quiet: bool, as_json: bool, wire: int) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    if not quiet:
        echo(_summary(verb, result, wire=wire), err=True)
    echo(result.digest)


# ---- commands -------------------------------------------------------------------------------------------
@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="[DIR] REF")
@click.option("-f", "--file", "modelfile", type=click.Path(dir_okay=False),
              help="With DIR: the modelcrate.yaml to use (default: DIR/modelcrate.yaml).")
@_transfer_options
@registry_options
@follow_symlinks_option
@overwrite_options
def push(args: tuple[str, ...], modelfile: str | None, concurrency: int, quiet: bool, as_json: bool,
         config: Config, follow_external_symlinks: bool, overwrite: Overwrite | None) -> None:
    """Push a model to a registry; print its digest.

    With REF only, push the local-store model of that name (pack it with `-t HOST/NAME:TAG`, or `modelcrate
    tag` it). With DIR REF, pack DIR on the fly and stream each file from disk: nothing is copied into
    the local store, and the digest is the one `modelcrate pack` gives.

    Blobs the registry already has are skipped; an interrupted push, run again, sends only what is missing.

    \b
    Example:
      modelcrate push localhost:5000/team/bert:1.0
      modelcrate push ./bert registry.example.com/team/bert:1.0 --concurrency 8
    """
    if len(args) > 2:
        raise UsageError("push takes REF, or DIR REF")
    if modelfile and len(args) != 2:
        raise UsageError("-f/--file needs DIR REF")
    ref, directory = (args[1], args[0]) if len(args) == 2 else (args[0], None)
    with showing(progress_for(quiet or as_json, "pushing", reading="hashing"), config) as progress:
        result = api.push(ref, directory, modelfile=modelfile, config=config, concurrency=concurrency,
                          progress=progress, follow_external_symlinks=follow_external_symlinks, force=overwrite)
    _report("pushed", result, quiet=quiet, as_json=as_json, wire=result.bytes_sent)


@cli.command()
@click.argument("ref")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False),
              help="Write the model's files into this directory instead of the local store.")
@click.option("--force", is_flag=True,
              help="With -o: overwrite existing files. Without: move a local version tag that names another "
                   "digest (needs --overwrite-key: the overwrite is recorded).")
@click.option("--overwrite-key", type=click.Path(dir_okay=False, exists=True),
              help="With --force and no -o: private key that signs the record of the version-tag overwrite.")
@click.option("--reason", "overwrite_reason", default="", help="With --overwrite-key: why (kept in the signed record).")
@kind_option("With -o: only layers of this kind (repeatable; the kinds and aliases of modelcrate.yaml).")
@click.option("--include", multiple=True, help="With -o: only paths matching this glob (repeatable).")
@click.option("--key", "pub_key", type=click.Path(dir_okay=False, exists=True),
              help="Refuse the model, before a byte lands, unless it is signed by this public key (PEM).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True),
              help="Refuse the model, before a byte lands, unless it meets this signature policy (YAML).")
@click.option("--model-signature", "signature_path", type=click.Path(dir_okay=False),
              help="With -o: also write the model's OpenSSF model-signing bundle to this file.")
@click.option("--deny-unsafe-pickle", "deny_unsafe", is_flag=True,
              help="With -o: refuse the model, writing nothing, if a file is a pickle importing anything unsafe.")
@click.option("--with-attachments", is_flag=True,
              help="With -o and --key/--policy: also write the verified attached documents into "
                   "DIR/.modelcrate-attachments/TYPE/ (the local store always keeps them as referrers).")
@_transfer_options
@registry_options
def pull(ref: str, out_dir: str | None, force: bool, overwrite_key: str | None, overwrite_reason: str,
         kinds: tuple[str, ...], include: tuple[str, ...],
         pub_key: str | None, policy_path: str | None, signature_path: str | None, deny_unsafe: bool,
         with_attachments: bool,
         concurrency: int, quiet: bool, as_json: bool, config: Config) -> None:
    """Pull a model into the local store, or with -o straight into a directory; print its digest.

    REF is HOST/NAME[:TAG][@sha256:...]. With a digest, the digest wins and every byte is checked against
    it; with TAG@DIGEST the tag must not point elsewhere. With -o the unpack safety rules apply: paths are
    checked, links refused, and a refused model leaves nothing behind. With --key or --policy the
    registry's signatures are verified first; an unsigned or wrongly signed model is refused. A local
    version tag that names other content is not moved unless --force with --overwrite-key.

    \b
    Example:
      modelcrate pull localhost:5000/team/bert:1.0
      modelcrate pull localhost:5000/team/bert@sha256:... -o ./bert
      modelcrate pull localhost:5000/team/bert:1.0 -o ./bert --key release.pub --model-signature ./bert.sig
    """
    if pub_key and policy_path:
        raise UsageError("pull takes --key or --policy, not both")
    if with_attachments and not (out_dir and (pub_key or policy_path)):
        raise UsageError("--with-attachments goes with -o DIR and --key or --policy (whose documents to trust)")
    if not out_dir and deny_unsafe:
        raise UsageError("--deny-unsafe-pickle goes with -o DIR")
    from ..scan import UnpackGate
    from .unsafe import warn_unsafe, warn_unsafe_stored

    if out_dir and (overwrite_key or overwrite_reason):
        raise UsageError("--overwrite-key and --reason go with a pull into the local store, not -o DIR")
    overwrite = None if out_dir else overwrite_of(force, overwrite_key, overwrite_reason, "--overwrite-key")
    gate = UnpackGate(deny=deny_unsafe) if out_dir else None
    with showing(progress_for(quiet or as_json, "pulling"), config) as progress:
        result = api.pull(ref, out_dir, key=pub_key, policy=policy_path, force=force and bool(out_dir), kinds=kinds,
                          include=include, model_signature=signature_path, config=config, concurrency=concurrency,
                          progress=progress, check=gate, overwrite=overwrite)
    if gate is not None:
        warn_unsafe(gate.result)
    else:
        warn_unsafe_stored(ref, result.digest, config)
    _report("pulled", result, quiet=quiet, as_json=as_json, wire=result.bytes_received)
    if pub_key or policy_path:
        from .lifecycle import warn_if_deprecated  # the lifecycle's records, only when verifying

        warn_if_deprecated(ref, result.digest, pub_key, policy_path, config)
    if with_attachments:
        from .records import pull_attachments

        pull_attachments(ref, result.digest, out_dir, pub_key, policy_path, config, force)


@cli.command(name="copy")
@click.argument("src")
@click.argument("dst")
@_transfer_options
@registry_options
@overwrite_options
def copy_(src: str, dst: str, concurrency: int, quiet: bool, as_json: bool, config: Config,
          overwrite: Overwrite | None) -> None:
    """Copy a model between registries or repositories, with its signatures; print its digest.

    On one registry, blobs are mounted from the source repository instead of moved. SRC may carry
    a digest (TAG@DIGEST is checked); DST without a tag takes SRC's tag. A name without a registry
    is the local store.

    \b
    Example:
      modelcrate copy localhost:5000/team/bert:1.0 localhost:5000/prod/bert:1.0
      modelcrate copy registry-a.example.com/bert@sha256:... registry-b.example.com/bert:1.0
    """
    with showing(progress_for(quiet or as_json, "copying"), config) as progress:
        result = api.copy(src, dst, config=config, concurrency=concurrency, progress=progress, force=overwrite)
    _report("copied", result, quiet=quiet, as_json=as_json, wire=result.bytes_sent + result.bytes_received)


@cli.command()
@click.argument("repo")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list on stdout.")
@click.option("--all", "show_all", is_flag=True,
              help="Also show the reserved tags: sha256-<hex> (signatures, referrers) and _history.<stage>.")
@registry_options
def tags(repo: str, as_json: bool, show_all: bool, config: Config) -> None:
    """List the tags of a registry repository, sorted.

    \b
    Example:
      modelcrate tags localhost:5000/team/bert
      modelcrate tags localhost:5000/team/bert --all --json
    """
    _emit_names(api.list_tags(repo, show_referrers=show_all, config=config), as_json)


@cli.command()
@click.argument("registry")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list on stdout.")
@registry_options
def catalog(registry: str, as_json: bool, config: Config) -> None:
    """List the repositories of a registry (where the registry allows it).

    \b
    Example:
      modelcrate catalog localhost:5000
    """
    names = api.iter_catalog(registry, config=config)
    if as_json:  # streamed too: a registry's catalog may be far larger than memory should hold
        first = True
        for name in names:
            echo(("[\n  " if first else ",\n  ") + json.dumps(name), nl=False)  # JSON escapes controls already
            first = False
        echo("[]" if first else "\n]")
        return
    for name in names:
        echo(name)


def _emit_names(names: list[str], as_json: bool) -> None:
    if as_json:
        emit_json(names)
    elif names:
        echo("\n".join(names))


@cli.command()
@click.argument("registry")
@click.option("-u", "--username", help="User name (asked for on a terminal when not given, as docker does).")
@click.option("-p", "--password", "password_arg", hidden=True,
              help="The password on the command line (visible to other users: prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (recommended).")
@json_option
@registry_options
def login(registry: str, username: str | None, password_arg: str | None, password_stdin: bool, as_json: bool,
          config: Config) -> None:
    """Log in to a registry: check the credentials, then store them in the docker config.

    The credentials are verified with an authenticated request before anything is written. They go to
    the credential helper the docker config names, else to $DOCKER_CONFIG/config.json (mode 0600).

    \b
    Example:
      echo "$TOKEN" | modelcrate login registry.example.com -u ci-bot --password-stdin
    """
    if username is None:
        if password_stdin or not sys.stdin.isatty():
            raise UsageError("no username: pass -u/--username")
        username = click.prompt("Username", err=True)
    if password_arg is not None:
        echo("modelcrate: warning: a password on the command line is visible to other users; "
                   "use --password-stdin", err=True)
        password = password_arg
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, err=True)
    else:
        raise UsageError("no password: pass --password-stdin and pipe it in")
    result = api.login(registry, username, password, config=config)
    if as_json:
        emit_json(result.to_dict())
        return
    note = "" if result.verified else " (the registry did not ask for credentials)"
    echo(f"Login Succeeded: {result.username}@{result.registry}{note}", err=True)
    echo(f"Credentials stored in {result.stored_in}" + (
        "" if result.helper else " (base64-encoded, not encrypted; configure a credential helper "
                                 "in the docker config to keep them in a keychain)"), err=True)


@cli.command()
@click.argument("registry")
@json_option
def logout(registry: str, as_json: bool) -> None:
    """Forget the stored credentials for a registry.

    \b
    Example:
      modelcrate logout registry.example.com
    """
    removed = api.logout(registry, config=run_config())
    if as_json:
        emit_json({"registry": registry, "removed": removed})
    elif removed:
        echo(f"Removed the credentials for {registry}", err=True)
    else:
        echo(f"No credentials were stored for {registry}", err=True)

