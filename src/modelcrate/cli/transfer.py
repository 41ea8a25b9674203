"""CLI commands that talk to registries: push, pull, copy, tags, catalog, login, logout.

Thin: parse, build the configuration once, call one :mod:`modelcrate.api` function, render. Digests and
``--json`` go to stdout; the summary and progress bars go to stderr (bars only when stderr is a terminal).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import click

from .. import api
from ..config import DEFAULT_CONCURRENCY, Config
from ..graphcopy import Progress
from ..errors import UsageError
from ..format.descriptor import Descriptor
from ..format.mediatypes import ANN_FILEPATH, ANN_TITLE, KINDS
from ..results import TransferResult
from .app import (cli, config as run_config, emit_json, follow_symlinks_option, registry_options, remote_option_list,
                  remote_settings)
from .overwrite import overwrite_options
from .render import echo, human_size, printable

if TYPE_CHECKING:
    from ..lifecycle.versions import Overwrite

__all__ = ["Bars", "remote_option_list", "remote_settings"]  # the option helpers, for cli/signing


# ---- shared options ---------------------------------------------------------------------------------
def _transfer_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY, show_default=True,
                     help="Blobs transferred in parallel."),
        click.option("-q", "--quiet", is_flag=True, help="No progress and no summary on stderr."),
        click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _progress(quiet: bool, verb: str) -> Bars | Progress:
    if quiet or not sys.stderr.isatty():
        return Progress()
    return Bars(sys.stderr, verb)


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


# ---- progress bars ------------------------------------------------------------------------------------
class Bars(Progress):
    """Per-blob bars and a total line with throughput and ETA, redrawn in place at most 10 times a second.

    Only used when stderr is a terminal. Called from the copy's worker threads."""

    WIDTH = 24

    def __init__(self, out: TextIO, verb: str) -> None:
        self.out = out
        self.verb = verb
        self.lock = threading.Lock()
        self.active: dict[str, list[Any]] = {}  # digest -> [label, size, done]
        self.total = 0
        self.done_bytes = 0
        self.t0 = time.monotonic()
        self.last = 0.0
        self.drawn = 0

    @staticmethod
    def _label(desc: Descriptor) -> str:
        name = printable(desc.annotation(ANN_FILEPATH) or desc.annotation(ANN_TITLE) or desc.digest[7:19])
        return name if len(name) <= 28 else "…" + name[-27:]

    def start(self, desc: Descriptor) -> None:
        with self.lock:
            if desc.digest in self.active:  # started again after an interruption
                self.done_bytes -= self.active[desc.digest][2]
            else:
                self.total += desc.size
            self.active[desc.digest] = [self._label(desc), desc.size, 0]
            self._draw(force=True)

    def advance(self, desc: Descriptor, nbytes: int) -> None:
        with self.lock:
            entry = self.active.get(desc.digest)
            if entry is not None:
                entry[2] += nbytes
            self.done_bytes += nbytes
            self._draw()

    def done(self, desc: Descriptor) -> None:
        with self.lock:
            entry = self.active.pop(desc.digest, None)
            if entry is not None:
                self.done_bytes += desc.size - entry[2]
                self._print(f"  done      {entry[0]}  {human_size(desc.size)}")
            self._draw(force=True)

    def skipped(self, desc: Descriptor) -> None:
        with self.lock:
            if desc.size > 4096:
                self._print(f"  exists    {self._label(desc)}  {human_size(desc.size)}")
            self._draw(force=True)

    def mounted(self, desc: Descriptor) -> None:
        with self.lock:
            self._print(f"  mounted   {self._label(desc)}  {human_size(desc.size)}")
            self._draw(force=True)

    def finish(self) -> None:
        with self.lock:
            self._clear()
            self.out.flush()

    # -- drawing (lock held) --
    def _bar(self, done: int, size: int) -> str:
        filled = int(self.WIDTH * done / size) if size else self.WIDTH
        return "[" + "#" * filled + "." * (self.WIDTH - filled) + "]"

    def _clear(self) -> None:
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def _print(self, line: str) -> None:
        self._clear()
        self.out.write(line + "\n")

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        elapsed = max(now - self.t0, 1e-6)
        rate = self.done_bytes / elapsed
        lines = []
        for label, size, done in list(self.active.values())[:8]:
            lines.append(f"  {label:<28} {self._bar(done, size)} {human_size(done):>10} / {human_size(size)}")
        left = max(self.total - self.done_bytes, 0)
        eta = f"{left / rate:5.0f}s" if rate > 0 and left else "    -"
        lines.append(f"{self.verb:<10} {'total':<20} {self._bar(self.done_bytes, self.total)} "
                     f"{human_size(self.done_bytes):>10} / {human_size(self.total)}  {human_size(int(rate))}/s  "
                     f"ETA {eta}")
        self._clear()
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self.drawn = len(lines)


def _run_with_bars(config: Config, progress: Bars | Progress, fn: Callable[[], TransferResult]) -> TransferResult:
    """Run a transfer; Ctrl-C cancels every connection at once so worker threads stop now, and the
    interrupt then unwinds through the stores' clean-up (the group prints "interrupted", exit 130)."""

    def interrupt(signum: int, frame: object) -> None:
        config.cancel.cancel()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        return fn()
    finally:
        signal.signal(signal.SIGINT, previous)
        if isinstance(progress, Bars):
            progress.finish()


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
    progress = _progress(quiet or as_json, "pushing")
    ref, directory = (args[1], args[0]) if len(args) == 2 else (args[0], None)
    result = _run_with_bars(config, progress, lambda: api.push(
        ref, directory, modelfile=modelfile, config=config, concurrency=concurrency, progress=progress,
        follow_external_symlinks=follow_external_symlinks, force=overwrite))
    _report("pushed", result, quiet=quiet, as_json=as_json, wire=result.bytes_sent)


@cli.command()
@click.argument("ref")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False),
              help="Write the model's files into this directory instead of the local store.")
@click.option("--force", is_flag=True, help="With -o: overwrite existing files.")
@click.option("--filter", "kinds", multiple=True, type=click.Choice(KINDS),
              help="With -o: only layers of this kind (repeatable).")
@click.option("--include", multiple=True, help="With -o: only paths matching this glob (repeatable).")
@click.option("--key", "pub_key", type=click.Path(dir_okay=False, exists=True),
              help="Refuse the model, before a byte lands, unless it is signed by this public key (PEM).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True),
              help="Refuse the model, before a byte lands, unless it meets this signature policy (YAML).")
@click.option("--model-signature", "signature_path", type=click.Path(dir_okay=False),
              help="With -o: also write the model's OpenSSF model-signing bundle to this file.")
@click.option("--deny-unsafe-pickle", "deny_unsafe", is_flag=True,
              help="With -o: refuse the model, writing nothing, if a file is a pickle importing anything unsafe.")
@_transfer_options
@registry_options
def pull(ref: str, out_dir: str | None, force: bool, kinds: tuple[str, ...], include: tuple[str, ...],
         pub_key: str | None, policy_path: str | None, signature_path: str | None, deny_unsafe: bool,
         concurrency: int, quiet: bool, as_json: bool, config: Config) -> None:
    """Pull a model into the local store, or with -o straight into a directory; print its digest.

    REF is HOST/NAME[:TAG][@sha256:...]. With a digest, the digest wins and every byte is checked against
    it; with TAG@DIGEST the tag must not point elsewhere. With -o the unpack safety rules apply: paths are
    checked, links refused, and a refused model leaves nothing behind. With --key or --policy the
    registry's signatures are verified first; an unsigned or wrongly signed model is refused.

    \b
    Example:
      modelcrate pull localhost:5000/team/bert:1.0
      modelcrate pull localhost:5000/team/bert@sha256:... -o ./bert
      modelcrate pull localhost:5000/team/bert:1.0 -o ./bert --key release.pub --model-signature ./bert.sig
    """
    if pub_key and policy_path:
        raise UsageError("pull takes --key or --policy, not both")
    if not out_dir and deny_unsafe:
        raise UsageError("--deny-unsafe-pickle goes with -o DIR")
    from ..scan import UnpackGate
    from .importing import warn_unsafe, warn_unsafe_stored

    gate = UnpackGate(deny=deny_unsafe) if out_dir else None
    progress = _progress(quiet or as_json, "pulling")
    result = _run_with_bars(config, progress, lambda: api.pull(
        ref, out_dir, key=pub_key, policy=policy_path, force=force, kinds=kinds, include=include,
        model_signature=signature_path, config=config, concurrency=concurrency, progress=progress, check=gate))
    if gate is not None:
        warn_unsafe(gate.result)
    else:
        warn_unsafe_stored(ref, result.digest, config)
    _report("pulled", result, quiet=quiet, as_json=as_json, wire=result.bytes_received)
    if pub_key or policy_path:
        from .lifecycle import warn_if_deprecated  # the lifecycle's records, only when verifying

        warn_if_deprecated(ref, result.digest, pub_key, policy_path, config)


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
    progress = _progress(quiet or as_json, "copying")
    result = _run_with_bars(config, progress, lambda: api.copy(
        src, dst, config=config, concurrency=concurrency, progress=progress, force=overwrite))
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
            echo(("[\n  " if first else ",\n  ") + json.dumps(name), nl=False)
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
@click.option("-u", "--username", required=True, help="User name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (recommended).")
@registry_options
def login(registry: str, username: str, password_stdin: bool, config: Config) -> None:
    """Log in to a registry: check the credentials, then store them in the docker config.

    The credentials are verified with an authenticated request before anything is written. They go to
    the credential helper the docker config names, else to $DOCKER_CONFIG/config.json (mode 0600).

    \b
    Example:
      echo "$TOKEN" | modelcrate login registry.example.com -u ci-bot --password-stdin
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, err=True)
    else:
        raise UsageError("no password: pass --password-stdin and pipe it in")
    result = api.login(registry, username, password, config=config)
    note = "" if result.verified else " (the registry did not ask for credentials)"
    echo(f"Login Succeeded: {result.username}@{result.registry}, stored in {result.stored_in}{note}", err=True)


@cli.command()
@click.argument("registry")
def logout(registry: str) -> None:
    """Forget the stored credentials for a registry.

    \b
    Example:
      modelcrate logout registry.example.com
    """
    if api.logout(registry, config=run_config()):
        echo(f"Removed the credentials for {registry}", err=True)
    else:
        echo(f"No credentials were stored for {registry}", err=True)

