"""CLI commands for approvals and policy checks: approve, reject, policy check.

Thin: parse, load the signer or the promoter's key once, call one :mod:`modelcrate.governance` function,
render rule lines or ``--json``. ``policy check`` exits 6 when a rule fails.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from .. import governance
from ..config import Config
from ..errors import PolicyViolation
from ..signatures import KeyVerifier
from .app import cli, emit_json, json_option, target_options
from .render import echo
from .signers import load_signer, read_small_file, signer_options

_STATUS = {True: "pass", False: "FAIL", None: "skip"}


def _decision_command(decision: str) -> Callable[..., None]:
    """``approve`` and ``reject``: the same command with another decision."""

    @click.argument("ref")
    @click.option("--stage", required=True, help="The stage the decision is for (e.g. production).")
    @click.option("--comment", help="Why: kept in the signed record.")
    @click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True),
                  help="Check that STAGE is one of this policy's stages first.")
    @signer_options
    @target_options
    @json_option
    def command(ref: str, stage: str, comment: str | None, policy_path: str | None, key_path: str | None,
                cert_path: str | None, chain_path: str | None, keyless: bool, local: bool, config: Config,
                as_json: bool) -> None:
        signer = load_signer(key_path, cert_path, chain_path, keyless)
        run = governance.approve if decision == "approve" else governance.reject
        done = run(ref, stage=stage, signer=signer, comment=comment, policy=policy_path, local=local,
                   config=config)
        if as_json:
            emit_json(done.to_dict())
            return
        verb = "approved" if decision == "approve" else "rejected"
        echo(f"{verb} {ref} ({done.digest}) for {stage} as {done.signer}", err=True)
        echo(done.stored.descriptor.digest)

    return command


cli.command(name="approve", help="""Approve a model for a stage: a signed record bound to its digest and the stage.

    The approval counts only for this digest and this stage, and only if the policy lists the signer
    as an approver (and, by default, the signer did not sign the model and is not the promoter).

    \b
    Example:
      modelcrate approve localhost:5000/team/bert:1.0 --stage production --key alice.key --comment "reviewed"
    """)(_decision_command("approve"))

cli.command(name="reject", help="""Reject a model for a stage: a signed record that blocks promotion.

    The rejection stands until the same identity approves the same digest for the same stage later.

    \b
    Example:
      modelcrate reject localhost:5000/team/bert:1.0 --stage production --key bob.key --comment "bias audit failed"
    """)(_decision_command("reject"))


@cli.group()
def policy() -> None:
    """Check a model against the rules of a policy file, rule by rule."""


@policy.command(name="check")
@click.argument("ref")
@click.option("--stage", required=True, help="The stage a promotion would go into.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True),
              help="The policy file (YAML). Without it nothing is required.")
@click.option("--promoter-key", type=click.Path(dir_okay=False, exists=True),
              help="Public key of who would promote: checks promoters and that they are not an approver.")
@target_options
@json_option
def check(ref: str, stage: str, policy_path: str | None, promoter_key: str | None, local: bool, config: Config,
          as_json: bool) -> None:
    """Evaluate a stage's rules for a model: each rule passes or fails, with the reason and evidence.

    Exit 6 when any rule fails. Rules that need the promoter are skipped without --promoter-key.

    \b
    Example:
      modelcrate policy check localhost:5000/team/bert:1.0 --stage production --policy policy.yaml
      modelcrate policy check team/bert:1.0 --stage staging --policy policy.yaml --json
    """
    promoter = KeyVerifier.from_pem(read_small_file(promoter_key)).description if promoter_key else None
    result = governance.check_policy(ref, stage=stage, policy=policy_path, promoter=promoter, local=local,
                                     config=config)
    decision = result.decision
    if as_json:
        if not decision.refused:  # a refusal prints the error object instead, as every failure does
            emit_json(result.to_dict())
    else:
        source = f"{policy_path} ({decision.policy_digest})" if policy_path else "no policy"
        echo(f"{ref} ({decision.digest}) into {stage}, policy {source}")
        for r in decision.results:
            evidence = f"  [{', '.join(r.evidence)}]" if r.evidence else ""
            echo(f"  {_STATUS[r.passed]}  {r.rule}: {r.reason}{evidence}")
        for note in result.notes:
            echo(f"note: {note}", err=True)
    if decision.refused:
        failed = decision.failures
        raise PolicyViolation(f"{ref} may not enter {stage}: {len(failed)} rule(s) failed, first: "
                              f"{failed[0].rule}: {failed[0].reason}")
