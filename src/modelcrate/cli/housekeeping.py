"""CLI commands that look after the local store: prune, df."""

from __future__ import annotations

import click

from .. import api
from .app import cli, config, emit_json, json_option
from .render import echo, human_size, table


@cli.command()
@click.option("--untagged", is_flag=True, help="Also remove manifests kept without a tag (pulled by digest).")
@click.option("-n", "--dry-run", is_flag=True, help="Only say what would be removed.")
@json_option
def prune(untagged: bool, dry_run: bool, as_json: bool) -> None:
    """Free local-store space: untagged content and leftovers of interrupted runs.

    Removes blobs no tag reaches (what `rm` left when another process was writing, signatures whose
    model is gone) and the temporary files of killed packs and downloads. Tagged models are never touched.

    \b
    Example:
      modelcrate prune --dry-run
      modelcrate prune --untagged --json
    """
    done = api.prune(untagged=untagged, dry_run=dry_run, config=config())
    if as_json:
        emit_json(done.to_dict())
        return
    verb = "would free" if dry_run else "freed"
    for name in done.untagged:
        echo(f"{'would remove' if dry_run else 'removed'} untagged {name}", err=True)
    echo(f"{verb} {human_size(done.freed)}: {done.blobs} blobs ({human_size(done.bytes)}), "
               f"{done.leftovers} leftover files ({human_size(done.leftover_bytes)})")


@cli.command()
@json_option
def df(as_json: bool) -> None:
    """Show the local store's size by repository and what prune would free.

    SIZE counts every blob a repository reaches; UNIQUE only those no other repository shares (what
    removing it would free).

    \b
    Example:
      modelcrate df
      modelcrate df --json
    """
    usage = api.disk_usage(config=config())
    if as_json:
        emit_json(usage.to_dict())
        return
    rows = [[r.name, str(r.models), human_size(r.size), human_size(r.unique)] for r in usage.repositories]
    echo(table(["REPOSITORY", "MODELS", "SIZE", "UNIQUE"], rows))
    echo(f"\nstore {usage.root}: {human_size(usage.total)} in {usage.blobs} blobs; "
               f"reclaimable {human_size(usage.reclaimable)} (modelcrate prune)")
