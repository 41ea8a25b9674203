"""CLI commands that read a model by reference, from the local store or its registry: inspect, digest,
manifest; and the two that change a registry's names: tag, delete.

A name that is in the local store is read there (as ``docker image inspect`` does); a registry name that
is not is read from its registry, manifest only (as ``crane manifest`` / ``oras manifest fetch`` do):
the weights are never fetched. ``--remote`` always asks the registry, ``--local`` never does.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .. import api
from ..config import Config
from ..errors import UsageError
from ..results import Inspected
from .app import cli, complete_refs, emit_json, json_option, options, registry_options
from .overwrite import overwrite_options
from .render import echo, human_size, table

if TYPE_CHECKING:
    from ..lifecycle.versions import Overwrite
    from ..tracking.deployments import ModelDeployments

_where = options(
    click.option("--local", is_flag=True, help="Read the local store only, even for a registry name."),
    click.option("--remote", is_flag=True, help="Ask the registry, even when the local store has the name."),
)


_deployment_readers = options(
    click.option("--key", "pub_paths", multiple=True, type=click.Path(dir_okay=False, exists=True),
                 help="Show the deployment records signed by this public key (repeatable)."),
    click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True),
                 help="Show the deployment records of the signers this policy names (and allows per environment)."),
)


@cli.command()
@click.argument("ref", shell_complete=complete_refs)
@click.option("--raw", is_flag=True, help="Print the manifest bytes exactly as stored (as `manifest` does).")
@_where
@_deployment_readers
@json_option
@registry_options
def inspect(ref: str, raw: bool, local: bool, remote: bool, pub_paths: tuple[str, ...], policy_path: str | None,
            as_json: bool, config: Config) -> None:
    """Show a model's metadata, files and digest (local store or registry).

    Deployment records are shown verified, with --key or --policy (the newest 20; `modelcrate
    deployments REPO` has every one, and what runs where now); without, only how many are claimed.

    \b
    Example:
      modelcrate inspect my-model:1.0.0
      modelcrate inspect localhost:5000/team/bert:1.0 --json --key deployer.pub
      modelcrate inspect my-model@sha256:... --raw | jq .
    """
    if raw:
        _write_bytes(api.inspect(ref, local=local, remote=remote, config=config).manifest.raw)
        return
    from .lifecycle_options import load_gate, load_readers  # the lifecycle's readers, only to show them

    found = api.inspect(ref, local=local, remote=remote, config=config, deployments=True,
                        verifier=load_readers(pub_paths), gate=load_gate(policy_path))
    if as_json:
        emit_json(found.to_dict())
    else:
        _render(found)


def _render(found: Inspected) -> None:
    meta = found.metadata or {}
    where = " (registry)" if found.remote else ""
    echo(f"{'Reference:':<14}{found.reference}{where}\n{'Digest:':<14}{found.digest}")
    labels = {"name": "Name", "version": "Version", "description": "Description", "license": "License",
              "framework": "Framework", "format": "Format", "architecture": "Architecture",
              "paramSize": "Parameters", "precision": "Precision", "quantization": "Quantization",
              "pipeline_tag": "Task", "created": "Created"}
    for key, label in labels.items():
        if meta.get(key):
            echo(f"{label + ':':<14}{meta[key]}")
    lineage = meta.get("lineage") or {}
    if lineage.get("base_model"):
        echo(f"{'Base model:':<14}{lineage['base_model']} ({lineage.get('base_model_relation', 'derived')})")
    for m in meta.get("metrics") or []:
        echo(f"{'Metric:':<14}{m['name']}={m['value']}"
                   + (f" on {m['dataset']}" if m.get("dataset") else "")
                   + (f"/{m['split']}" if m.get("split") else ""))
    echo(f"{'Size:':<14}{human_size(found.total_size)} in {len(found.files)} files\n")
    echo(table(["PATH", "KIND", "SIZE", "DIGEST"],
                     [[f.path, f.kind + (" (tar)" if f.format != "raw" else ""), human_size(f.descriptor.size),
                       f.descriptor.digest[7:19]] for f in found.files]))
    if found.deployments is not None:
        _render_deployments(found.deployments)


def _render_deployments(found: ModelDeployments) -> None:
    if not found.verified:
        echo(f"\n{'Deployments:':<14}" + (f"{found.claimed} claimed, not verified (pass --key or --policy)"
                                          if found.claimed else "none recorded"))
        return
    if not found.records:
        echo(f"\n{'Deployments:':<14}none verified" + (f" ({found.claimed} claimed)" if found.claimed else ""))
        return
    more = f"; {found.omitted} older not shown, see `modelcrate deployments`" if found.omitted else ""
    echo(f"\n{'Deployments:':<14}{len(found.records) + found.omitted} verified{more}")
    echo(table(["TIME", "ENVIRONMENT", "EVENT", "BY", "ENDPOINT"],
               [[d.fields.to_dict()["time"], d.fields.environment, d.fields.event, d.signer, d.fields.endpoint or "-"]
                for d in found.records]))


def _write_bytes(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@cli.command()
@click.argument("ref", shell_complete=complete_refs)
@_where
@json_option
@registry_options
def digest(ref: str, local: bool, remote: bool, as_json: bool, config: Config) -> None:
    """Print the manifest digest a reference names (local store or registry).

    On a registry this is one HEAD request, as `crane digest` does.

    \b
    Example:
      modelcrate digest localhost:5000/team/bert:1.0
      modelcrate pull "localhost:5000/team/bert@$(modelcrate digest localhost:5000/team/bert:1.0)"
    """
    found = api.digest(ref, local=local, remote=remote, config=config)
    if as_json:
        emit_json({"reference": ref, "digest": found.digest, "mediaType": found.descriptor.media_type,
                   "size": found.descriptor.size})
    else:
        echo(found.digest)


@cli.command()
@click.argument("ref", shell_complete=complete_refs)
@_where
@registry_options
def manifest(ref: str, local: bool, remote: bool, config: Config) -> None:
    """Print a model's manifest bytes exactly as stored (local store or registry).

    The bytes are checked against their digest before they are printed.

    \b
    Example:
      modelcrate manifest localhost:5000/team/bert:1.0 | jq .layers
    """
    _write_bytes(api.manifest(ref, local=local, remote=remote, config=config))


@cli.command()
@click.argument("src", shell_complete=complete_refs)
@click.argument("dst")
@_where
@json_option
@registry_options
@overwrite_options
def tag(src: str, dst: str, local: bool, remote: bool, as_json: bool, config: Config,
        overwrite: Overwrite | None) -> None:
    """Give a model another name or tag, in the local store or on its registry.

    When SRC is in the local store the new name is local (the content is shared). Otherwise, for a
    registry SRC, the manifest is tagged again on the registry without pulling a byte of the model (a copy
    that mounts the blobs when DST is another repository on the same registry).

    \b
    Example:
      modelcrate tag my-model:1.0.0 registry.example.com/team/my-model:1.0.0
      modelcrate tag localhost:5000/team/bert:1.0 localhost:5000/team/bert:stable --remote
    """
    done = api.tag(src, dst, local=local, remote=remote, config=config, force=overwrite)
    if as_json:
        emit_json(done.to_dict())
    else:
        echo(done.digest)


@cli.command()
@click.argument("ref", shell_complete=complete_refs)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@json_option
@registry_options
def delete(ref: str, force: bool, as_json: bool, config: Config) -> None:
    """Delete a manifest from a registry, by digest (where the registry allows it).

    The registry deletes by digest: every tag naming that manifest goes too. Asks first on a terminal;
    elsewhere --force is required. Blobs are reclaimed by the registry's own garbage collection.

    \b
    Example:
      modelcrate delete localhost:5000/team/bert@sha256:... --force
    """
    if not force:
        if not sys.stdin.isatty():
            raise UsageError("delete removes every tag naming the manifest: pass --force to confirm")
        click.confirm(f"Delete {ref} and every tag naming its manifest?", abort=True, err=True)
    done = api.delete(ref, config=config)
    if as_json:
        emit_json(done.to_dict())
    else:
        echo(f"deleted {done.reference}", err=True)
        echo(done.digest)
