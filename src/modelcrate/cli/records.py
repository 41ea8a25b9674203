"""CLI commands for what happens after release: deployment record|end, deployments, attach,
attachment get|list, metrics.

Thin: parse, call one :mod:`modelcrate.tracking.api` function, render a table, a line or ``--json``.
Writers sign with ``--key`` (a private key); readers verify with ``--key`` (public keys, repeatable) or
``--policy`` (every signer it names).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..tracking import api as tracking
from ..config import Config
from .app import cli, emit_json, json_option, registry_options
from .lifecycle_options import (context_for, load_gate, load_readers, parse_at, policy_option, readers_option,
                                record_signer, record_signer_options)
from .render import echo, table

_environment = click.option("--environment", "-e", required=True, help="The environment (e.g. prod-eu).")


@cli.group()
def deployment() -> None:
    """Record where a model runs: signed deployment records attached to the model."""


def _recorded(result: tracking.Recorded, as_json: bool, verb: str) -> None:
    for warning in result.warnings:
        echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(result.to_dict())
        return
    f = result.fields
    where = f" from {f.stage}" if f.stage else ""
    echo(f"{verb} {result.reference} in {f.environment}{where} by {f.actor}", err=True)
    echo(result.stored.descriptor.digest)


@deployment.command(name="record")
@click.argument("ref")
@_environment
@click.option("--endpoint", help="Where it serves (a URL), recorded as given.")
@click.option("--replicas", type=click.IntRange(min=0), help="How many replicas run it.")
@click.option("--strict", is_flag=True, help="Refuse (write nothing) when the model is not in the stage the "
                                             "policy binds the environment to.")
@record_signer_options
@policy_option
@registry_options
@json_option
def record(ref: str, environment: str, endpoint: str | None, replicas: int | None, strict: bool,
           key_path: str | None, keyless: bool, policy_path: str | None, config: Config, as_json: bool) -> None:
    """Record that a model now runs in an environment (a signed record naming the stage it came from).

    \b
    Example:
      modelcrate deployment record localhost:5000/team/bert:production -e prod-eu \\
          --endpoint https://bert.prod-eu.example.com --replicas 3 --key deployer.key --policy policy.yaml
    """
    result = tracking.record_deployment(ref, environment=environment, signer=record_signer(key_path, keyless),
                                        endpoint=endpoint, replicas=replicas, strict=strict,
                                        gate=load_gate(policy_path),
                                        ctx=context_for(ref, config))
    _recorded(result, as_json, "deployed")


@deployment.command(name="end")
@click.argument("ref")
@_environment
@record_signer_options
@policy_option
@registry_options
@json_option
def end(ref: str, environment: str, key_path: str | None, keyless: bool, policy_path: str | None,
        config: Config, as_json: bool) -> None:
    """Record that a model no longer runs in an environment.

    \b
    Example:
      modelcrate deployment end localhost:5000/team/bert:1.0.0 -e prod-eu --key deployer.key
    """
    result = tracking.record_deployment(ref, environment=environment, signer=record_signer(key_path, keyless),
                                        event="end", gate=load_gate(policy_path),
                                        ctx=context_for(ref, config))
    _recorded(result, as_json, "ended")


def pull_attachments(ref: str, digest: str, out_dir: str, pub_key: str | None, policy_path: str | None, config,
                     force: bool) -> None:
    """``pull --with-attachments``: the verified documents of the pulled digest, beside its files."""
    from ..format.reference import Reference

    written = tracking.save_attachments(f"{Reference.parse(ref).name}@{digest}", out_dir, gate=load_gate(policy_path),
                                        verifier=load_readers((pub_key,) if pub_key else ()), force=force,
                                        ctx=context_for(ref, config))
    for path in written:
        echo(f"attachment: {path}", err=True)


def _short(digest: str | None) -> str:
    return digest[7:19] if digest else "-"


@cli.command()
@click.argument("repo")
@click.option("--environment", "-e", help="Only this environment.")
@click.option("--at", "at_text", help="What ran where at this time (ISO 8601 with a zone).")
@readers_option
@policy_option
@registry_options
@json_option
def deployments(repo: str, environment: str | None, at_text: str | None, pub_paths: tuple[str, ...],
                policy_path: str | None, config: Config,
                as_json: bool) -> None:
    """What ran where, when: every verified deployment record of a repository, and what runs now.

    \b
    Example:
      modelcrate deployments localhost:5000/team/bert --policy policy.yaml
      modelcrate deployments localhost:5000/team/bert -e prod-eu --at 2026-03-01T12:00:00Z --key deployer.pub
    """
    result = tracking.deployments(repo, environment=environment, at=parse_at(at_text), gate=load_gate(policy_path),
                                  verifier=load_readers(pub_paths), ctx=context_for(repo, config))
    if as_json:
        emit_json(result.to_dict())
        return
    when = f" at {at_text}" if at_text else " now"
    echo(f"running{when}:")
    rows = [[env, d.version or "-", _short(d.fields.digest), d.fields.time.isoformat(), d.fields.stage or "-",
             d.fields.endpoint or "-", str(d.fields.replicas) if d.fields.replicas is not None else "-", d.signer]
            for env, d in result.running.items()]
    echo(table(["ENVIRONMENT", "VERSION", "DIGEST", "SINCE", "FROM STAGE", "ENDPOINT", "REPLICAS",
                      "SIGNED BY"], rows) if rows else "  nothing")
    echo("events:")
    events = [[d.fields.time.isoformat(), d.fields.event, d.fields.environment, d.version or "-",
               _short(d.fields.digest), d.fields.stage or "-", d.signer] for d in result.events]
    echo(table(["TIME", "EVENT", "ENVIRONMENT", "VERSION", "DIGEST", "FROM STAGE", "SIGNED BY"], events)
               if events else "  none")


_doc_type = click.option("--type", "doc_type", required=True,
                         help="validation-report, risk-assessment, model-card, sbom, license, or a type URI.")


@cli.command()
@click.argument("ref")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@_doc_type
@click.option("--media-type", help="The document's media type (default: from the file name).")
@record_signer_options
@registry_options
@json_option
def attach(ref: str, file: str, doc_type: str, media_type: str | None, key_path: str | None, keyless: bool,
           config: Config, as_json: bool) -> None:
    """Attach a document (report, assessment, SBOM, licence…) to a model as a signed referrer.

    \b
    Example:
      modelcrate attach localhost:5000/team/bert:1.1.0 validation.pdf --type validation-report --key qa.key
      modelcrate attach team/bert:1.1.0 bom.cdx.json --type sbom --key release.key
    """
    reference, stored, att = tracking.attach(ref, file, doc_type=doc_type, signer=record_signer(key_path, keyless),
                                             media_type=media_type,
                                             ctx=context_for(ref, config))
    if as_json:
        emit_json({"reference": reference, **att.to_dict(), "record": stored.descriptor.digest})
        return
    f = att.fields
    echo(f"attached {f.name} ({f.doc_type}, {f.media_type}, {f.size} bytes) to {reference}", err=True)
    echo(stored.descriptor.digest)


@cli.group()
def attachment() -> None:
    """List and fetch the documents attached to a model, each checked against its signed record."""


@attachment.command(name="list")
@click.argument("ref")
@click.option("--type", "doc_type", help="Only this document type.")
@readers_option
@policy_option
@registry_options
@json_option
def list_(ref: str, doc_type: str | None, pub_paths: tuple[str, ...], policy_path: str | None, config: Config, as_json: bool) -> None:
    """List the verified documents attached to a model.

    \b
    Example:
      modelcrate attachment list localhost:5000/team/bert:1.1.0 --policy policy.yaml
    """
    found = tracking.attachments(ref, doc_type=doc_type, gate=load_gate(policy_path), verifier=load_readers(pub_paths),
                                 ctx=context_for(ref, config))
    if as_json:
        emit_json({"reference": ref, "attachments": [a.to_dict() for a in found]})
        return
    echo(table(["TYPE", "NAME", "MEDIA TYPE", "SIZE", "DIGEST", "SIGNED BY", "TIME"],
                     [[a.fields.doc_type, a.fields.name, a.fields.media_type, str(a.fields.size),
                       _short(a.fields.digest), a.signer, a.fields.to_dict()["time"]] for a in found])
               if found else "no verified attachments")


@attachment.command(name="get")
@click.argument("ref")
@_doc_type
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False),
              help="Write the document here (default: its recorded name in the current directory).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@readers_option
@policy_option
@registry_options
def get(ref: str, doc_type: str, out: str | None, force: bool, pub_paths: tuple[str, ...],
        policy_path: str | None, config: Config) -> None:
    """Fetch the newest document of a type attached to a model, digest-verified.

    \b
    Example:
      modelcrate attachment get localhost:5000/team/bert:1.1.0 --type validation-report -o report.pdf \\
          --key qa.pub
    """
    fetched = tracking.get_attachment(ref, doc_type=doc_type, gate=load_gate(policy_path),
                                      verifier=load_readers(pub_paths), ctx=context_for(ref, config))
    path = tracking.save(fetched, out or Path.cwd() / fetched.attachment.fields.name, force=force)
    echo(f"wrote {path} ({fetched.attachment.fields.size} bytes, {fetched.attachment.fields.digest}, "
               f"signed by {fetched.attachment.signer})", err=True)
    echo(str(path))


@cli.command()
@click.argument("ref")
@click.option("--name", help="Only this metric.")
@readers_option
@policy_option
@registry_options
@json_option
def metrics(ref: str, name: str | None, pub_paths: tuple[str, ...], policy_path: str | None, config: Config, as_json: bool) -> None:
    """Metrics over versions and time: the metadata's and those of verified evaluations (incl. production).

    \b
    Example:
      modelcrate metrics localhost:5000/team/bert --name accuracy --policy policy.yaml
      modelcrate metrics localhost:5000/team/bert:1.1.0 --key monitor.pub --json
    """
    rows = tracking.metrics(ref, name=name, gate=load_gate(policy_path), verifier=load_readers(pub_paths),
                            ctx=context_for(ref, config))
    if as_json:
        emit_json({"reference": ref, "metrics": [r.to_dict() for r in rows]})
        return
    echo(table(["TIME", "VERSION", "DIGEST", "PHASE", "METRIC", "VALUE", "SOURCE"],
                     [[r.metric.time or "-", r.version or "-", _short(r.digest), r.to_dict()["phase"],
                       r.metric.name, f"{r.metric.value:g}", _short(r.metric.source)] for r in rows])
               if rows else "no metrics")


@cli.command()
@click.argument("where", metavar="REPO|REGISTRY")
@click.option("--since", "since_text", help="Only events at or after this time (ISO 8601 with a zone).")
@click.option("--follow", is_flag=True, help="Keep polling for new events (backing off while nothing happens).")
@click.option("--interval", type=click.FloatRange(min=0.0), default=2.0, show_default=True,
              help="With --follow: seconds between polls after news (doubling up to 60 while quiet).")
@click.option("--polls", type=click.IntRange(min=1), help="With --follow: stop after this many polls.")
@click.option("--exec", "exec_cmd", metavar="CMD",
              help="Run CMD for each event with the event's JSON on stdin (split like a shell, never run by one).")
@readers_option
@policy_option
@registry_options
@json_option
def events(where: str, since_text: str | None, follow: bool, interval: float, polls: int | None,
           exec_cmd: str | None, pub_paths: tuple[str, ...], policy_path: str | None, config: Config,
           as_json: bool) -> None:
    """Every governance event of a repository or registry, verified, in time order, as JSON lines.

    Pushed, signed, attested, approved, rejected, attached, promoted, rolled back, deployed, deprecated,
    retired, and untracked stage moves: read from the signed records themselves, no server.

    \b
    Example:
      modelcrate events localhost:5000/team/bert --policy policy.yaml --since 2026-03-01T00:00:00Z
      modelcrate events localhost:5000 --key ops.pub --follow \\
          --exec "./on-event.sh"     # the event's JSON on stdin
    """
    import shlex
    import subprocess
    import time

    from ..tracking.events import follow as follow_events

    since = parse_at(since_text)
    argv = shlex.split(exec_cmd) if exec_cmd else None
    if exec_cmd is not None and not argv:
        raise click.UsageError("--exec needs a command")
    gate, verifier = load_gate(policy_path), load_readers(pub_paths)
    ctx = context_for(where if "/" in where else f"{where}/x", config)

    def poll() -> list:
        found, notes = tracking.events(where, since=since, gate=gate, verifier=verifier, ctx=ctx)
        for note in notes:
            echo(f"note: {note}", err=True)
        return found

    stream = follow_events(poll, time.sleep, polls=polls if follow else 1, interval=interval)
    for event in stream:
        line = json.dumps(event.to_dict(), sort_keys=True)
        if as_json or argv is None:
            echo(line if as_json else _event_line(event))
        if argv is not None:
            done = subprocess.run(argv, input=line + "\n", text=True, check=False)
            if done.returncode != 0:
                echo(f"warning: {argv[0]} exited {done.returncode} for event {event.id}", err=True)
        sys.stdout.flush()


def _event_line(event) -> str:
    where = f"{event.repository}" + (f":{event.version}" if event.version else "")
    stage = event.details.get("stage") or event.details.get("environment")
    return " ".join(x for x in (event.time or "-", event.kind, where, _short(event.digest),
                                f"[{stage}]" if stage else "", f"by {event.signer}" if event.signer else "") if x)
