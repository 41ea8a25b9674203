"""CLI command ``report``: the audit report of one model as HTML, Markdown or JSON, and its evidence bundle."""

from __future__ import annotations

from pathlib import Path

import click

from .._internal.fsutil import atomic_write
from ..report import api as report_api
from ..config import Config
from .app import cli, registry_options
from .lifecycle_options import context_for, load_gate, load_readers, policy_option, readers_option
from .render import echo


@cli.command()
@click.argument("ref")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False),
              help="Write the report here (default: stdout).")
@click.option("--format", "fmt", type=click.Choice(report_api.FORMATS), default="html", show_default=True)
@click.option("--bundle", "bundle_dir", type=click.Path(file_okay=False),
              help="Also write the evidence (the model, all its referrers, the stage histories) as an OCI layout "
                   "to this new directory, for offline re-verification.")
@readers_option
@policy_option
@registry_options
def report(ref: str, out: str | None, fmt: str, bundle_dir: str | None, pub_paths: tuple[str, ...],
           policy_path: str | None, config: Config) -> None:
    """Write a model's audit report: card, files, lineage, signatures, approvals, history, deployments,
    metrics, documents, scan, policy per stage, and the Annex IV / NIST AI RMF mapping.

    The HTML page is self-contained (inline CSS and SVG, nothing fetched, prints well).

    \b
    Example:
      modelcrate report localhost:5000/team/bert:1.1.0 --policy policy.yaml -o report.html
      modelcrate report team/bert:1.1.0 --key release.pub --format json -o report.json --bundle evidence/
    """
    doc = report_api.build(ref, gate=load_gate(policy_path), verifier=load_readers(pub_paths),
                           ctx=context_for(ref, config), bundle=bundle_dir)
    text = report_api.render(doc, fmt)
    if out is None:
        echo(text, nl=False)
        return
    atomic_write(Path(out), text.encode("utf-8"))
    echo(f"wrote {out}" + (f" and the evidence bundle {bundle_dir}" if bundle_dir else ""), err=True)
