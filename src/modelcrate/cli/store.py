"""CLI commands on the local store: init, pack, list, unpack, rm.

Thin: parse, call one :mod:`modelcrate.api` function, render a table or ``--json``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import click

from .. import api
from ..config import DEFAULT_CONCURRENCY
from ..errors import UsageError
from .app import cli, complete_refs, config, emit_json, follow_symlinks_option, json_option, kind_option, quiet_option
from .overwrite import overwrite_options
from .progress import progress_for, showing
from .render import echo, human_size, table

if TYPE_CHECKING:
    from ..lifecycle.versions import Overwrite


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", help="Model name to write (default: the directory's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing modelcrate.yaml.")
@follow_symlinks_option
@json_option
def init(directory: str, name: str | None, force: bool, follow_external_symlinks: bool, as_json: bool) -> None:
    """Write DIRECTORY/modelcrate.yaml, classifying the files found there.

    Metadata comes from what the directory already says: a Kitfile, a modctl Modelfile, an
    MLflow MLmodel, a Hugging Face card (README.md front matter) and config.json, and the
    weights' own headers. What could not be mapped is reported.

    \b
    Weights: *.safetensors *.gguf *.onnx *.bin *.pt *.pth *.ckpt *.h5 *.keras
    Weight config: config.json, tokenizer*, chat_template*, *.safetensors.index.json, MLmodel, ...
    Code: *.py *.sh requirements.txt conda.yaml    Docs: README* LICENSE* *.md
    Other files (and training state such as training_args.bin) are listed as comments.

    \b
    Example:
      modelcrate init ./my-model --name my-model
    """
    from .importing import report_written

    done = api.init(directory, name=name, force=force, follow_external_symlinks=follow_external_symlinks)
    if as_json:
        emit_json(done.to_dict())
    else:
        report_written(done)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("-t", "--tag", "ref",
              help="Reference to store it under, NAME[:TAG] (default: name:version from the yaml).")
@click.option("-f", "--file", "modelfile", type=click.Path(dir_okay=False),
              help="The modelcrate.yaml to use (default: DIRECTORY/modelcrate.yaml).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY, show_default=True,
              help="Files hashed and stored in parallel.")
@quiet_option
@json_option
@follow_symlinks_option
@overwrite_options
def pack(directory: str, ref: str | None, modelfile: str | None, concurrency: int, quiet: bool, as_json: bool,
         follow_external_symlinks: bool, overwrite: Overwrite | None) -> None:
    """Pack DIRECTORY into the local store as a ModelPack artifact.

    The same directory and metadata always give the same digest: layer order, modes and the
    creation time (from modelcrate.yaml or SOURCE_DATE_EPOCH, never the clock) are fixed. A version
    tag (the model's own version) that names other content is not moved unless --force with --key.

    \b
    Example:
      modelcrate pack ./my-model -t registry.example.com/team/my-model:1.0.0
    """
    cfg = config()
    with showing(progress_for(quiet or as_json, "packing"), cfg) as progress:
        packed = api.pack(directory, ref, modelfile=modelfile, concurrency=concurrency, config=cfg, progress=progress,
                          follow_external_symlinks=follow_external_symlinks, force=overwrite)
    if as_json:
        emit_json(packed.to_dict())
        return
    if not quiet:
        echo(f"packed {packed.reference} ({len(packed.view.files)} files, "
                   f"{human_size(packed.view.total_size)})", err=True)
    echo(packed.descriptor.digest)


_LIST_FIELDS = ("reference", "name", "tag", "digest", "size", "created", "version")


def _matches(row: Any, filters: tuple[str, ...]) -> bool:
    for item in filters:
        key, eq, pattern = item.partition("=")
        if not eq or key not in _LIST_FIELDS:
            raise UsageError(f"--filter {item!r}: write KEY=GLOB with KEY one of {', '.join(_LIST_FIELDS)}")
        if not fnmatchcase(str(getattr(row, key) or ""), pattern):
            return False
    return True


def _formatted(row: Any, template: str) -> str:
    values = {**row.to_dict(), "size": human_size(row.size), "bytes": row.size, "short": row.digest[7:19]}
    try:
        return template.replace("\\t", "\t").format_map(values)
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(f"--format {template!r}: {exc}; fields: {', '.join(sorted(values))}") from None


@cli.command(name="list")
@click.option("-q", "--quiet", is_flag=True, help="Print only the references, one a line.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=GLOB",
              help=f"Only models whose KEY matches GLOB (repeatable; KEY: {', '.join(_LIST_FIELDS)}).")
@click.option("--format", "template", metavar="TEMPLATE",
              help="Print each model with this template, e.g. '{reference}\\t{digest}' (fields as in --json, plus "
                   "short and bytes).")
@click.option("--all", "show_all", is_flag=True,
              help="Also show the reserved tags: sha256-<hex> (signatures, referrers) and _history.<stage>.")
@json_option
def list_(quiet: bool, filters: tuple[str, ...], template: str | None, show_all: bool, as_json: bool) -> None:
    """List the models in the local store.

    \b
    Example:
      modelcrate list --json
      modelcrate list --filter 'name=team/*' --filter 'tag=1.*' -q
      modelcrate list --format '{reference} {short} {size}'
    """
    rows = [r for r in api.list_models(config=config(), show_reserved=show_all) if _matches(r, filters)]
    if as_json:
        emit_json([r.to_dict() for r in rows])
    elif quiet:
        for r in rows:
            echo(r.reference)
    elif template is not None:
        for r in rows:
            echo(_formatted(r, template))
    else:
        echo(table(["NAME", "TAG", "DIGEST", "SIZE", "CREATED"],
                         [[r.name, r.tag or "<none>", r.digest[7:19], human_size(r.size), r.created or ""]
                          for r in rows]))


@cli.command()
@click.argument("ref", shell_complete=complete_refs)
@click.argument("directory", type=click.Path(file_okay=False))
@kind_option("Only layers of this kind (repeatable): weight (weights), weight.config (config), code, doc (docs), "
             "dataset (data).")
@click.option("--include", multiple=True, help="Only paths matching this glob (repeatable).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--model-signature", "signature_path", type=click.Path(dir_okay=False),
              help="Also write the model's OpenSSF model-signing bundle to this file, beside DIRECTORY.")
@click.option("--deny-unsafe-pickle", "deny_unsafe", is_flag=True,
              help="Refuse the model, writing nothing, if a file is a pickle importing anything unsafe.")
@quiet_option
@json_option
def unpack(ref: str, directory: str, kinds: tuple[str, ...], include: tuple[str, ...], force: bool,
           signature_path: str | None, deny_unsafe: bool, quiet: bool, as_json: bool) -> None:
    """Write a model's files into DIRECTORY, verifying every byte.

    Refuses hostile artifacts (absolute paths, '..', links, paths through symlinks, duplicates,
    wrong sizes or digests) and writes nothing when it refuses. With --model-signature, the OMS bundle
    stored by `modelcrate sign` is written too, for `model_signing verify key --signature FILE DIRECTORY`.

    \b
    Example:
      modelcrate unpack my-model:1.0.0 ./serving --filter weight --filter weight.config
      modelcrate unpack my-model:1.0.0 ./serving --model-signature ./serving.sig
    """
    from ..scan import UnpackGate
    from .unsafe import warn_unsafe

    gate = UnpackGate(deny=deny_unsafe)
    cfg = config()
    with showing(progress_for(quiet or as_json, "unpacking"), cfg) as progress:
        result = api.unpack(ref, directory, kinds=kinds, include=include, force=force,
                            model_signature=signature_path, config=cfg, progress=progress, check=gate)
    warn_unsafe(gate.result)
    signature = result.model_signature
    if as_json:
        emit_json(result.to_dict())
    elif not quiet:
        echo(f"unpacked {len(result.files)} files ({human_size(result.total_size)}) into {directory}", err=True)
        if signature is not None:
            echo(f"wrote the model-signing bundle to {signature_path} (signer, unverified: {signature.signer})",
                       err=True)


@cli.command()
@click.argument("refs", nargs=-1, required=True, shell_complete=complete_refs)
@json_option
def rm(refs: tuple[str, ...], as_json: bool) -> None:
    """Remove tags from the local store; content nothing else uses is freed.

    NAME@DIGEST removes every tag of NAME that names that manifest, and says which. With --json, a list
    with one object per REF.

    \b
    Example:
      modelcrate rm my-model:1.0.0
      modelcrate rm my-model@sha256:...
    """
    cfg = config()
    done = [api.remove(ref, config=cfg) for ref in refs]
    if as_json:
        emit_json([d.to_dict() for d in done])
        return
    for d in done:
        for name in d.untagged or (d.reference,):
            echo(f"untagged {name} ({d.digest})", err=True)
