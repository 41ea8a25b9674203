"""CLI commands that find and hand over models: search, diff, lineage, storage-initializer, export.

Thin: parse, resolve paths and settings from the environment here (the edge), call one operation,
render a table or ``--json``. Names, versions and references come from registries: every one printed
for a human goes through :func:`.render.echo` / :func:`.render.table`, which escape terminal controls.
"""

from __future__ import annotations

import os
from typing import Any

import click

from ..config import Config
from ..index import search as _search
from .app import cli, emit_json, json_option, registry_options
from .render import echo, human_size, printable, table


def _short(digest: str) -> str:
    return digest[7:19] if digest.startswith("sha256:") else digest[:12]


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


# ---- search -------------------------------------------------------------------------------------------
@cli.command()
@click.argument("scope", required=False)
@click.option("--local", is_flag=True, help="Search the local store (SCOPE is then a name prefix).")
@click.option("--where", "where", help="An expression: metrics.accuracy >= 0.9 and (license = 'mit' or ...).")
@click.option("--name", help="Model name, a glob: 'bert-*'.")
@click.option("--framework")
@click.option("--format", "format_")
@click.option("--license", "license_", help="SPDX identifier; compared without regard to case.")
@click.option("--task", help="The pipeline tag, e.g. text-classification.")
@click.option("--tag", "tags", multiple=True, help="A metadata tag the model must have (repeatable).")
@click.option("--author")
@click.option("--owner")
@click.option("--stage", help="A stage tag naming the model: dev, staging or production.")
@click.option("--deprecated/--not-deprecated", default=None, help="Only deprecated (or only current) models.")
@click.option("--created-before", metavar="DATE")
@click.option("--created-after", metavar="DATE")
@click.option("--text", help="Words that must all appear in the name, title, description or tags.")
@click.option("--uses-dataset", metavar="URI|DIGEST|NAME", help="Models trained or evaluated on this dataset.")
@click.option("--derived-from", metavar="REF", help="Models whose base model is REF, recursively.")
@click.option("--sort", "sort", metavar="FIELD", help="Sort by a field; -FIELD for descending.")
@click.option("--limit", type=click.IntRange(min=1))
@click.option("--offline", is_flag=True, help="Query the index as it is, without asking the registry.")
@click.option("--recheck", is_flag=True,
              help="Resolve every tag again (default: only stage tags, latest and new tags; versions are immutable).")
@click.option("--repositories", "repo_file", type=click.Path(dir_okay=False, exists=True),
              help="A file naming the repositories to index, one a line (for registries without a catalog).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Registry requests in parallel while refreshing the index.")
@click.option("--key", "pub_paths", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Count deprecation records signed by this public key (repeatable).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True),
              help="Count deprecation records signed by anyone this policy names (as status does).")
@registry_options
@json_option
def search(scope: str | None, local: bool, where: str | None, name: str | None, framework: str | None,
           format_: str | None, license_: str | None, task: str | None, tags: tuple[str, ...], author: str | None,
           owner: str | None, stage: str | None, deprecated: bool | None, created_before: str | None,
           created_after: str | None, text: str | None, uses_dataset: str | None, derived_from: str | None,
           sort: str | None, limit: int | None, offline: bool, recheck: bool, repo_file: str | None, concurrency: int,
           pub_paths: tuple[str, ...], policy_path: str | None, as_json: bool, config: Config) -> None:
    """Find models by metadata, metrics, stage and lineage across a registry.

    SCOPE is HOST[:PORT] (every repository the catalog lists), HOST[:PORT]/PREFIX, or with --local a
    local-store name prefix. Only manifests are read, never weights; results are kept in an index in
    the cache directory, so a second search fetches only what changed. Without SCOPE and with --offline,
    everything indexed is searched. A model is deprecated when a signed deprecation record verifies under
    --key or --policy; records that do not are reported on stderr and not counted.

    \b
    Example:
      modelcrate search localhost:5000/team --where "metrics.accuracy >= 0.9 and license = 'mit'"
      modelcrate search localhost:5000 --stage production --sort -metrics.f1
      modelcrate search localhost:5000 --uses-dataset sha256:2c26b46b68ff...
    """
    filters = _search.Filters(name=name, framework=framework, format=format_, license=license_, task=task,
                              tags=tags, author=author, owner=owner, stage=stage, deprecated=deprecated,
                              created_before=created_before, created_after=created_after, text=text,
                              uses_dataset=uses_dataset, derived_from=derived_from)
    repositories = _search.read_repository_list(repo_file) if repo_file else None
    from .. import api  # here, not above: --offline stays within a few ms of start-up

    matches = api.search(scope, local=local, where=where, filters=filters, sort=sort, limit=limit,
                         offline=offline, recheck=recheck, repositories=repositories, config=config,
                         concurrency=concurrency, verifier=_deprecation_verifier(pub_paths, policy_path),
                         report=_report_not_counted)
    if as_json:
        emit_json([m.to_dict() for m in matches])
        return
    if not matches:
        echo("no models match", err=True)
        return
    extra = list(dict.fromkeys(k for m in matches for k in m.matched if k not in ("stages", "deprecated")))
    rows = [[m.reference, _short(m.digest), m.version or "", ",".join(m.stages) + (" (deprecated)" if m.deprecated
                                                                                   else "")]
            + [_show(m.matched.get(k)) for k in extra] for m in matches]
    echo(table(["REFERENCE", "DIGEST", "VERSION", "STAGES", *[k.upper() for k in extra]], rows))


def _deprecation_verifier(pub_paths: tuple[str, ...], policy_path: str | None) -> Any:
    if not pub_paths and not policy_path:
        return None
    if pub_paths and policy_path:
        raise click.UsageError("--key and --policy: give one")
    from ..lifecycle.gate import trusted_signers
    from .lifecycle_options import load_gate, load_readers  # the signature stack: only when asked for

    return trusted_signers(load_gate(policy_path), load_readers(pub_paths))


def _report_not_counted(stats: Any, shown: int = 5) -> None:
    lines = stats.not_counted
    if not lines:
        return
    echo(f"warning: {len(lines)} deprecation record(s) not counted:", err=True)
    for line in lines[:shown]:
        echo(f"  {line}", err=True)
    if len(lines) > shown:
        echo(f"  … and {len(lines) - shown} more", err=True)


# ---- diff ---------------------------------------------------------------------------------------------
def _value(v: Any) -> str:
    return "—" if v is None else _show(v) if not isinstance(v, (dict, list)) else repr(v)


@cli.command()
@click.argument("old")
@click.argument("new")
@registry_options
@json_option
def diff(old: str, new: str, as_json: bool, config: Config) -> None:
    """Show what changed from model OLD to model NEW, without downloading weights.

    Metadata field by field, files added, removed and changed (by digest) with size deltas, metric
    deltas, stage tags and referrers (signatures, attestations). Either side may be in a registry or
    the local store.

    \b
    Example:
      modelcrate diff localhost:5000/team/bert:1.0 localhost:5000/team/bert:1.1
    """
    from .. import api

    d = api.diff(old, new, config=config)
    if as_json:
        emit_json(d.to_dict())
        return
    echo(f"--- {old}  {d.old_digest}\n+++ {new}  {d.new_digest}")
    if d.identical:
        echo("identical: the same manifest digest")
        return
    for c in d.metadata:
        echo(f"  {c.path}: {_value(c.old)} → {_value(c.new)}")
    for m in d.metrics:
        delta = f" ({m.delta:+g})" if m.delta is not None else ""
        echo(f"  metric {m.name}: {_value(m.old)} → {_value(m.new)}{delta}")
    for f in d.files:
        sign = {"added": "+", "removed": "-", "changed": "~"}[f.kind]
        sizes = f"{human_size(f.old_size or 0)} → {human_size(f.new_size or 0)}" if f.kind == "changed" else \
            human_size(f.new_size if f.kind == "added" else f.old_size or 0)
        echo(f"{sign} {f.path}  {sizes} ({f.size_delta:+d} bytes)")
    for c in d.extra:
        echo(f"  {c.path}: {_value(c.old)} → {_value(c.new)}")
    echo(f"{len(d.files)} files differ, {d.unchanged_files} unchanged; size {d.size_delta:+d} bytes")


# ---- lineage ------------------------------------------------------------------------------------------
@cli.command(name="lineage")
@click.argument("ref")
@click.option("--local", is_flag=True, help="REF names a model in the local store.")
@click.option("--no-follow", is_flag=True, help="Do not read base models; show only REF's own metadata.")
@click.option("--dot", is_flag=True, help="Print the graph in Graphviz DOT.")
@click.option("--key", "pub_path", type=click.Path(dir_okay=False, exists=True),
              help="Also verify each model's provenance attestations with this public key and show them.")
@registry_options
@json_option
def lineage_(ref: str, local: bool, no_follow: bool, dot: bool, pub_path: str | None, as_json: bool,
             config: Config) -> None:
    """Show what a model was built from: base models (recursively) and datasets.

    For the reverse question, which models used a dataset or a base model, use
    `modelcrate search --uses-dataset` or `--derived-from`.

    \b
    Example:
      modelcrate lineage localhost:5000/team/bert-ft:1.0
      modelcrate lineage localhost:5000/team/bert-ft:1.0 --dot | dot -Tsvg > lineage.svg
      modelcrate lineage localhost:5000/team/bert-ft:1.0 --key release.pub   # and verified provenance
    """
    from .. import lineage_graph as _lineage

    from .. import api

    root = api.lineage(ref, follow=not no_follow, local=local, key=pub_path, config=config)
    if as_json:
        emit_json(root.to_dict())
    elif dot:
        echo(_lineage.render_dot(root))
    else:
        echo("\n".join(_lineage.render_tree(root)))


# ---- serving handoff ----------------------------------------------------------------------------------
TERMINATION_LOG = "/dev/termination-log"  # where Kubernetes reads a container's last words from


def _termination_log(message: str) -> None:
    """Leave the one-line reason where Kubernetes shows it in the pod's status and events."""
    path = os.environ.get("MODELCRATE_TERMINATION_LOG") or (TERMINATION_LOG if os.path.exists(TERMINATION_LOG)
                                                              else None)
    if path:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(message + "\n")
        except OSError:
            pass  # the error still goes to stderr and the exit code


@cli.command(name="storage-initializer")
@click.argument("storage_uri")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False),
              help="Signature policy (default: $MODELCRATE_POLICY).")
@click.option("--key", "key_path", type=click.Path(dir_okay=False),
              help="Public key the model must be signed with (default: $MODELCRATE_PUBLIC_KEY).")
@click.option("--allow-unverified", is_flag=True,
              help="Pull without any signature check (default: refuse when no policy or key is given).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@registry_options
def storage_initializer(storage_uri: str, dest: str, policy_path: str | None, key_path: str | None,
                        allow_unverified: bool, concurrency: int, config: Config) -> None:
    """Pull a model for KServe: STORAGE_URI (modelcrate://REGISTRY/REPO@sha256:…) into DEST.

    The calling convention of a KServe ClusterStorageContainer. The policy and keys come from mounted
    files named by --policy/--key or $MODELCRATE_POLICY/$MODELCRATE_PUBLIC_KEY; registry credentials from
    the docker config in $DOCKER_CONFIG. A model the policy refuses is not written; the reason is one
    line on stderr and in /dev/termination-log, and the exit code is non-zero.

    \b
    Example:
      modelcrate storage-initializer modelcrate://registry.example.com/team/bert@sha256:… /mnt/models
    """
    from ..errors import ModelcrateError
    from ..serving import storage_initializer as si

    verification = si.Verification(policy_path or os.environ.get("MODELCRATE_POLICY") or None,
                                   key_path or os.environ.get("MODELCRATE_PUBLIC_KEY") or None,
                                   allow_unverified)
    try:
        result = si.initialize(storage_uri, dest, verification, config=config, concurrency=concurrency)
    except ModelcrateError as exc:
        _termination_log(f"modelcrate: error: {printable(exc.diagnostics())}")  # shown in the pod's status
        raise
    echo(f"wrote {len(result.files)} files ({human_size(result.size)}) of {result.digest} into {dest}", err=True)


@cli.command()
@click.argument("ref")
@click.argument("dst")
@click.option("--modelcar", is_flag=True, help="Build a KServe modelcar image (the only kind so far).")
@click.option("--base", "base_ref", required=True, metavar="IMAGE",
              help="Base image with /bin/sh (by digest for a reproducible result).")
@click.option("--big-file", type=click.IntRange(min=1), default=1024 * 1024, show_default=True,
              help="Files of at least this many bytes get a layer of their own.")
@click.option("--platform", metavar="OS/ARCH",
              help="Pick this platform from a multi-platform base (default: this machine's).")
@registry_options
@json_option
def export(ref: str, dst: str, modelcar: bool, base_ref: str, big_file: int, platform: str | None,
           as_json: bool, config: Config) -> None:
    """Export model REF as an OCI image DST that serving platforms run (a KServe modelcar).

    The image is BASE's layers, then the model's files under /models as deterministic tar layers
    (big files in layers of their own, so they dedupe). Pushed beside the model (same repository), it
    is registered as the model's referrer. Serve it with storageUri: oci://DST-REPOSITORY@DIGEST.

    \b
    Example:
      modelcrate export --modelcar localhost:5000/team/bert:1.0 localhost:5000/team/bert:1.0-modelcar \\
          --base localhost:5000/base/busybox@sha256:...
    """
    from ..errors import UsageError
    from ..format.reference import Reference
    from ..serving import modelcar as _modelcar
    from ..targets import Targets, resolve

    if not modelcar:
        raise UsageError("say what to export: --modelcar")
    pair = tuple(platform.split("/", 1)) if platform else None
    if pair is not None and (len(pair) != 2 or not all(pair)):
        raise UsageError(f"--platform {platform!r}: write OS/ARCH, e.g. linux/amd64")
    src_ref, base_r = Reference.parse(ref).or_latest(), Reference.parse(base_ref).or_latest()
    dst_r = Reference.parse(dst)
    if dst_r.digest:
        raise UsageError(f"{dst}: the destination takes a name and tag, not a digest")
    with Targets(config) as targets:
        src, base = targets.open(src_ref, write=False), targets.open(base_r, write=False)
        out = targets.open(dst_r, write=True)
        result = _modelcar.export_modelcar(src, resolve(src, src_ref), base, resolve(base, base_r),
                                           out, dst_r.tag, big_file=big_file, platform=pair)  # type: ignore[arg-type]
    if as_json:
        emit_json(result.to_dict())
        return
    echo(f"exported {result.reference}: {result.base_layers} base layers + {len(result.model_layers)} "
               f"model layers" + ("; linked to the model as a referrer" if result.linked else ""), err=True)
    echo(result.descriptor.digest)
