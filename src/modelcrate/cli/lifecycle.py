"""CLI commands for the lifecycle: promote, rollback, demote, deprecate, retire, history, status, resolve.

Thin: parse, load keys and the policy once, call one :mod:`modelcrate.lifecycle` function (``resolve``
calls :func:`modelcrate.resolve`), render a table, a line or ``--json``. Writers sign with ``--key`` (a
private key) or ``--keyless``; readers verify with ``--policy`` (its promoters) or ``--key`` (public keys of
accepted promoters, repeatable).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from .. import api, lifecycle
from ..format.reference import Reference
from ..config import Config
from ..lifecycle.chain import Entry
from ..lifecycle.gate import Gate
from ..serving.pin import FORMATS, render_pin
from ..signatures import Verifier
from .app import cli, emit_json, json_option, registry_options
from .lifecycle_options import (context_for, load_gate, load_readers, parse_at, policy_option, readers_option,
                                record_signer, record_signer_options)
from .render import echo, table

_reason = click.option("--reason", default="", help="Why (recorded in the signed record).")


def _short(digest: str | None) -> str:
    return digest[7:19] if digest else "-"


def _landed(verb: str, promoted: lifecycle.Promoted, as_json: bool) -> None:
    if as_json:
        emit_json(promoted.to_dict())
        return
    p = promoted.appended.promotion
    echo(f"{verb} {promoted.reference} in {p.stage}: record #{p.sequence} by {p.actor}"
               + (f" ({promoted.appended.attempts} attempts: another promoter wrote first)"
                  if promoted.appended.attempts > 1 else ""), err=True)
    echo(promoted.reference)


@cli.command()
@click.argument("ref")
@click.option("--to", "stage", required=True, help="The stage to promote into (e.g. staging, production).")
@record_signer_options
@_reason
@policy_option
@registry_options
@json_option
def promote(ref: str, stage: str, key_path: str | None, keyless: bool, reason: str, policy_path: str | None,
            config: Config, as_json: bool) -> None:
    """Promote a model into a stage: check the policy, move the stage tag, append a signed record.

    The stage tag is moved to the existing manifest (nothing is copied). The record names the evidence
    that satisfied the policy, the policy's digest (or "no policy"), and the previous history entry.

    \b
    Example:
      modelcrate promote localhost:5000/team/bert:1.1.0 --to production --key alice.key \\
          --policy policy.yaml --reason "CAB-1234"
    """
    promoted = lifecycle.promote(ref, to=stage, signer=record_signer(key_path, keyless), reason=reason,
                                 gate=load_gate(policy_path), ctx=context_for(ref, config))
    _landed("promoted", promoted, as_json)


def _stage_command(name: str, verb: str, run: Callable[..., lifecycle.Promoted], doc: str) -> None:
    """Register ``rollback`` or ``demote``: REPO --stage S, signed, with the same options."""

    @click.argument("repo")
    @click.option("--stage", required=True, help="The stage to change.")
    @record_signer_options
    @_reason
    @policy_option
    @registry_options
    @json_option
    def command(repo: str, stage: str, key_path: str | None, keyless: bool, reason: str, policy_path: str | None,
                config: Config, as_json: bool) -> None:
        promoted = run(repo, stage=stage, signer=record_signer(key_path, keyless), reason=reason,
                       gate=load_gate(policy_path), ctx=context_for(repo, config))
        _landed(verb, promoted, as_json)

    command.__doc__ = doc
    cli.command(name=name)(command)


_stage_command("rollback", "rolled back to", lifecycle.rollback, """Move a stage back to the model it held before, recorded as a rollback.

    \b
    Example:
      modelcrate rollback localhost:5000/team/bert --stage production --key bob.key --reason "latency"
    """)
_stage_command("demote", "emptied", lifecycle.demote, """Empty a stage (resolving it then fails), recorded as a demote; `rollback` puts the model back.

    \b
    Example:
      modelcrate demote localhost:5000/team/bert --stage staging --key alice.key --reason "bad data"
    """)


@cli.command()
@click.argument("ref")
@click.option("--reason", required=True, help="Why the model is deprecated (recorded, signed).")
@click.option("--successor", help="The model to use instead (pinned by digest when in the same repository).")
@record_signer_options
@registry_options
@json_option
def deprecate(ref: str, reason: str, successor: str | None, key_path: str | None, keyless: bool, config: Config,
              as_json: bool) -> None:
    """Sign a deprecation of a model: resolve warns, and a policy can refuse it.

    \b
    Example:
      modelcrate deprecate localhost:5000/team/bert:1.0.0 --reason "superseded" \\
          --successor localhost:5000/team/bert:1.1.0 --key release.key
    """
    stored = lifecycle.deprecate(ref, reason=reason, signer=record_signer(key_path, keyless), successor=successor,
                                 ctx=context_for(ref, config))
    if as_json:
        emit_json({"reference": ref, **stored.to_dict()})
        return
    echo(f"deprecated {ref}: {reason}", err=True)
    echo(stored.descriptor.digest)


@cli.command()
@click.argument("ref")
@record_signer_options
@click.option("--reason", default="retired", show_default=True, help="Why (recorded in the signed records).")
@click.option("--delete", is_flag=True, help="Then delete its version tag, where the store allows it.")
@policy_option
@registry_options
@json_option
def retire(ref: str, key_path: str | None, keyless: bool, reason: str, delete: bool, policy_path: str | None,
           config: Config, as_json: bool) -> None:
    """Take a model out of every stage, record its retirement, optionally delete its version tag.

    The history keeps its digest and every record about it, so what it was stays provable.

    \b
    Example:
      modelcrate retire localhost:5000/team/bert:1.0.0 --key alice.key --reason "CVE-2026-1234"
    """
    retired = lifecycle.retire(ref, signer=record_signer(key_path, keyless), reason=reason, delete=delete,
                               gate=load_gate(policy_path), ctx=context_for(ref, config))
    if as_json:
        emit_json(retired.to_dict())
        return
    stages = ", ".join(a.stage for a in retired.stages) or "no stage"
    echo(f"retired {retired.reference} (recorded in {stages})" + (", version tag deleted" if retired.deleted
                                                                         else ""), err=True)
    for note in retired.notes:
        echo(f"note: {note}", err=True)
    echo(retired.reference)


def _approvers(entry: Entry) -> str:
    names = [e.signer or e.digest[7:19] for e in entry.promotion.evidence if e.kind == "approval"]
    return ", ".join(names) or "-"


def _render_history(reports: list[lifecycle.StageReport], name: str) -> None:
    for report in reports:
        verified = "signers verified" if report.signers_verified else "links verified, signers NOT verified"
        echo(f"{name} {report.stage}: {len(report.history.entries)} records ({verified})")
        rows = [[str(e.sequence), e.promotion.time, e.promotion.action, _short(e.subject), e.signer,
                 e.promotion.reason or "-", _approvers(e), e.promotion.policy[:19]] for e in report.history.entries]
        if rows:
            echo(table(["#", "TIME", "ACTION", "MODEL", "SIGNED BY", "REASON", "APPROVED BY", "POLICY"], rows))
        if report.untracked:
            echo(f"warning: {report.untracked}", err=True)


@cli.command()
@click.argument("repo")
@click.option("--stage", help="Only this stage (default: every stage with a history).")
@click.option("--at", "at_text", help="Say what each stage held at this time (ISO 8601 with a zone).")
@readers_option
@policy_option
@registry_options
@json_option
def history(repo: str, stage: str | None, at_text: str | None, pub_paths: tuple[str, ...], policy_path: str | None,
            config: Config, as_json: bool) -> None:
    """Print the verified history of a repository's stages: who promoted what, when, why, on what evidence.

    Every record's signature, its link to the one before, and the client's checkpoint are checked; a
    broken or rewritten history is an error. With --at: what was in each stage then, and who approved it.

    \b
    Example:
      modelcrate history localhost:5000/team/bert --stage production --policy policy.yaml
      modelcrate history localhost:5000/team/bert --stage production --at 2026-03-01T12:00:00Z --key alice.pub
    """
    when = parse_at(at_text)
    reports = lifecycle.history(repo, stage=stage, gate=load_gate(policy_path), verifier=load_readers(pub_paths),
                                ctx=context_for(repo, config))
    if when is None:
        if as_json:
            emit_json({"repository": repo, "stages": [r.to_dict() for r in reports]})
        else:
            _render_history(reports, repo)
        return
    answers = [(r, r.at(when)) for r in reports]
    if as_json:
        emit_json({"repository": repo, "at": at_text,
                   "stages": [{"stage": r.stage, "entry": e.to_dict() if e else None,
                               "model": e.promotion.to_digest if e else None} for r, e in answers]})
        return
    for r, e in answers:
        if e is None:
            echo(f"{r.stage} at {at_text}: no record yet")
        elif e.promotion.to_digest is None:
            echo(f"{r.stage} at {at_text}: empty ({e.promotion.action} #{e.sequence} by {e.signer})")
        else:
            echo(f"{r.stage} at {at_text}: {repo}@{e.promotion.to_digest} ({e.promotion.action} "
                       f"#{e.sequence} by {e.signer} at {e.promotion.time}; approved by {_approvers(e)}; "
                       f"policy {e.promotion.policy})")


@cli.command()
@click.argument("repo")
@readers_option
@policy_option
@registry_options
@json_option
def status(repo: str, pub_paths: tuple[str, ...], policy_path: str | None, config: Config, as_json: bool) -> None:
    """Every version of a repository: digest, created, stages, signatures, approvals, deprecation.

    With --policy or --key the signatures, approvals and deprecations are verified; without, what the
    referrers claim is shown as claimed.

    \b
    Example:
      modelcrate status localhost:5000/team/bert --policy policy.yaml
    """
    gate, verifier, ctx = load_gate(policy_path), load_readers(pub_paths), context_for(repo, config)
    result = lifecycle.status(repo, gate=gate, verifier=verifier, ctx=ctx)
    running = _running(repo, gate, verifier, ctx)
    if as_json:
        emit_json({**result.to_dict(), "running": {env: d.to_dict() for env, d in running.items()}})
        return
    echo(table(["VERSION", "DIGEST", "CREATED", "STAGES", "RUNS IN", "SIGNED BY", "APPROVALS", "DEPRECATION",
                "MODELCARS"],
                     [[v.tag, _short(v.digest), v.created or "", ",".join(v.stages) or "-",
                       ",".join(e for e, d in running.items() if d.fields.digest == v.digest) or "-",
                       ", ".join(v.signatures) or "-", "; ".join(v.approvals) or "-", v.deprecation or "-",
                       ", ".join(_modelcar_cell(m) for m in v.modelcars) or "-"]
                      for v in result.versions]))
    for s in result.stages:
        echo(f"stage {s.stage}: {_short(s.history.current)} ({len(s.history.entries)} records"
                   + ("" if s.signers_verified else ", signers not verified") + ")")
        if s.untracked or s.problem:
            echo(f"warning: {s.untracked or s.problem}", err=True)


def _modelcar_cell(car: Any) -> str:
    """``TAG`` (or the short digest when untagged), and who signed it when that was verified."""
    where = ",".join(r.rsplit(":", 1)[1] if "@" not in r else _short(car.digest) for r in car.references)
    return where + (f" (signed by {', '.join(car.signatures)})" if car.signatures else "")


def _running(repo: str, gate: Gate | None, verifier: Verifier | None, ctx: lifecycle.Context) -> dict:
    """Where each version runs now, by verified deployment records (nothing without keys or a policy)."""
    from ..tracking import api as tracking

    if gate is None and verifier is None:
        return {}
    return tracking.deployments(repo, gate=gate, verifier=verifier, ctx=ctx).running


@cli.command()
@click.argument("ref")
@readers_option
@policy_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="plain", show_default=True,
              help="plain: NAME@sha256:…; kustomize: a patch of an InferenceService's storageUri; "
                   "helm: a values file.")
@click.option("--inference-service", default=None,
              help="With --format kustomize: the InferenceService the patch targets (default: any).")
@registry_options
@json_option
def resolve(ref: str, pub_paths: tuple[str, ...], policy_path: str | None, fmt: str, inference_service: str | None,
            config: Config, as_json: bool) -> None:
    """Print NAME@sha256:… for a version or stage tag: the line a deployment pins.

    For a stage, with --policy or --key, exits non-zero (6) naming what failed unless its latest record is
    signed by an allowed promoter, its history verifies, the tag is where the history says, and the
    policy holds for the model now. A deprecated model is reported on stderr.

    \b
    Example:
      modelcrate resolve localhost:5000/team/bert:production --policy policy.yaml
      modelcrate resolve localhost:5000/team/bert:production --key alice.pub --format helm > values-model.yaml
    """
    resolved = api.resolve(ref, gate=load_gate(policy_path), verifier=load_readers(pub_paths), config=config)
    for warning in resolved.warnings:
        echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(resolved.to_dict())
    else:
        echo(render_pin(resolved.name, resolved.digest, fmt, inference_service=inference_service))
    sys.stdout.flush()


def warn_if_deprecated(ref: str, digest: str, pub_key: str | None, policy_path: str | None,
                       cfg: Config) -> None:
    """After ``pull --key/--policy``: say on stderr when the pulled model is deprecated or retired."""
    found = lifecycle.deprecated(f"{Reference.parse(ref).name}@{digest}", gate=load_gate(policy_path),
                                  verifier=load_readers((pub_key,) if pub_key else ()),
                                  ctx=context_for(ref, cfg))
    if found is not None:
        echo(f"warning: {found.warning(ref)}", err=True)
