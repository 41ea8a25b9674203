"""CLI commands on the local store: init, pack, list, inspect, unpack, tag, rm.

Thin: parse, call one :mod:`modelcrate.api` function, render a table or ``--json``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from .. import api
from ..config import DEFAULT_CONCURRENCY
from ..format.mediatypes import KINDS
from .app import cli, config, emit_json, follow_symlinks_option, json_option
from .overwrite import overwrite_options
from .render import echo, human_size, table

if TYPE_CHECKING:
    from ..lifecycle.versions import Overwrite


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", help="Model name to write (default: the directory's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing modelcrate.yaml.")
@follow_symlinks_option
def init(directory: str, name: str | None, force: bool, follow_external_symlinks: bool) -> None:
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

    report_written(api.init(directory, name=name, force=force, follow_external_symlinks=follow_external_symlinks))


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("-t", "--tag", "ref",
              help="Reference to store it under, NAME[:TAG] (default: name:version from the yaml).")
@click.option("-f", "--file", "modelfile", type=click.Path(dir_okay=False),
              help="The modelcrate.yaml to use (default: DIRECTORY/modelcrate.yaml).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY, show_default=True,
              help="Files hashed and stored in parallel.")
@json_option
@follow_symlinks_option
def pack(directory: str, ref: str | None, modelfile: str | None, concurrency: int, as_json: bool,
         follow_external_symlinks: bool) -> None:
    """Pack DIRECTORY into the local store as a ModelPack artifact.

    The same directory and metadata always give the same digest: layer order, modes and the
    creation time (from modelcrate.yaml or SOURCE_DATE_EPOCH, never the clock) are fixed.

    \b
    Example:
      modelcrate pack ./my-model -t registry.example.com/team/my-model:1.0.0
    """
    packed = api.pack(directory, ref, modelfile=modelfile, concurrency=concurrency, config=config(),
                      follow_external_symlinks=follow_external_symlinks)
    if as_json:
        emit_json({"reference": packed.reference, "digest": packed.descriptor.digest,
                   "size": packed.view.total_size, "files": len(packed.view.files)})
    else:
        echo(f"packed {packed.reference} ({len(packed.view.files)} files, "
                   f"{human_size(packed.view.total_size)})", err=True)
        echo(packed.descriptor.digest)


@cli.command(name="list")
@click.option("--all", "show_all", is_flag=True,
              help="Also show the reserved tags: sha256-<hex> (signatures, referrers) and _history.<stage>.")
@json_option
def list_(show_all: bool, as_json: bool) -> None:
    """List the models in the local store.

    \b
    Example:
      modelcrate list --json
    """
    rows = api.list_models(config=config(), show_reserved=show_all)
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    echo(table(["NAME", "TAG", "DIGEST", "SIZE", "CREATED"],
                     [[r.name, r.tag or "<none>", r.digest[7:19], human_size(r.size), r.created or ""]
                      for r in rows]))


@cli.command()
@click.argument("ref")
@click.option("--raw", is_flag=True, help="Print the manifest bytes exactly as stored.")
@json_option
def inspect(ref: str, raw: bool, as_json: bool) -> None:
    """Show a model's metadata, files and digest.

    \b
    Example:
      modelcrate inspect my-model:1.0.0
      modelcrate inspect my-model@sha256:... --raw | jq .
    """
    view = api.inspect(ref, config=config())
    if raw:
        sys.stdout.buffer.write(view.manifest.raw)
        sys.stdout.buffer.flush()
        return
    files = [{"path": f.path, "kind": f.kind, "format": f.format, "size": f.descriptor.size,
              "digest": f.descriptor.digest, "mode": f"{f.mode:o}" if f.mode is not None else None}
             for f in view.files]
    if as_json:
        emit_json({"reference": ref, "digest": view.manifest.digest, "mediaType": view.manifest.media_type,
                   "artifactType": view.manifest.artifact_type, "size": view.total_size,
                   "metadata": view.metadata, "files": files})
        return
    meta = view.metadata or {}
    echo(f"{'Reference:':<14}{ref}\n{'Digest:':<14}{view.manifest.digest}")
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
    echo(f"{'Size:':<14}{human_size(view.total_size)} in {len(files)} files\n")
    echo(table(["PATH", "KIND", "SIZE", "DIGEST"],
                     [[f["path"], f["kind"] + (" (tar)" if f["format"] != "raw" else ""), human_size(f["size"]),
                       f["digest"][7:19]] for f in files]))


@cli.command()
@click.argument("ref")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--filter", "kinds", multiple=True, type=click.Choice(KINDS),
              help="Only layers of this kind (repeatable).")
@click.option("--include", multiple=True, help="Only paths matching this glob (repeatable).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--model-signature", "signature_path", type=click.Path(dir_okay=False),
              help="Also write the model's OpenSSF model-signing bundle to this file, beside DIRECTORY.")
@click.option("--deny-unsafe-pickle", "deny_unsafe", is_flag=True,
              help="Refuse the model, writing nothing, if a file is a pickle importing anything unsafe.")
@json_option
def unpack(ref: str, directory: str, kinds: tuple[str, ...], include: tuple[str, ...], force: bool,
           signature_path: str | None, deny_unsafe: bool, as_json: bool) -> None:
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
    from .importing import warn_unsafe

    gate = UnpackGate(deny=deny_unsafe)
    result = api.unpack(ref, directory, kinds=kinds, include=include, force=force, model_signature=signature_path,
                        config=config(), check=gate)
    warn_unsafe(gate.result)
    signature = result.model_signature
    if as_json:
        out: dict[str, Any] = {"directory": directory, "files": [{"path": p, "size": s} for p, s in result.files]}
        if signature is not None:
            out["modelSignature"] = {"path": signature_path, "referrer": signature.referrer, "signer": signature.signer}
        emit_json(out)
    else:
        echo(f"unpacked {len(result.files)} files ({human_size(result.total_size)}) into {directory}", err=True)
        if signature is not None:
            echo(f"wrote the model-signing bundle to {signature_path} (signer, unverified: {signature.signer})",
                       err=True)


@cli.command()
@click.argument("src")
@click.argument("dst")
@overwrite_options
def tag(src: str, dst: str, overwrite: Overwrite | None) -> None:
    """Give a model in the local store another name or tag.

    \b
    Example:
      modelcrate tag my-model:1.0.0 registry.example.com/team/my-model:1.0.0
    """
    desc = api.tag(src, dst, config=config(), force=overwrite)
    echo(desc.digest)


@cli.command()
@click.argument("refs", nargs=-1, required=True)
def rm(refs: tuple[str, ...]) -> None:
    """Remove tags from the local store; content nothing else uses is freed.

    \b
    Example:
      modelcrate rm my-model:1.0.0
    """
    cfg = config()
    for ref in refs:
        desc = api.remove(ref, config=cfg)
        echo(f"untagged {ref} ({desc.digest})", err=True)
