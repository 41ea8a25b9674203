"""CLI commands for starting from what users have: import, scan, convert; and the scan warnings that
unpack and pull print.

Thin: parse, call :mod:`modelcrate.importers`, :mod:`modelcrate.scan` or :mod:`modelcrate.importers.convert`,
render. Data and ``--json`` go to stdout; summaries, notes and warnings to stderr.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from .. import __version__, api, scan as _scan, signatures
from ..config import Config
from ..errors import PolicyViolation, UsageError
from ..format.reference import Reference
from ..importers import convert as _convert, detect
from ..results import Initialized
from ..scan.result import summary
from .app import cli, emit_json, error_object, json_option, reported_in_json, target_options
from .render import echo, table
from .signers import load_signer, signer_options

_FORMAT_NAMES = {"hf": "huggingface", "huggingface": "huggingface", "mlflow": "mlflow", "kitops": "kitops",
                 "kitfile": "kitops", "modctl": "modctl", "modelfile": "modctl"}
_SOURCE_FILES = {"Kitfile": "kitops", "Modelfile": "modctl", "MLmodel": "mlflow", "README.md": "huggingface",
                 "config.json": "huggingface"}


def report_written(written: Initialized) -> None:
    """What init and import say on stderr: the file, its sources, the facts read, what was not mapped."""
    sources = f" from {', '.join(written.sources)}" if written.sources else ""
    echo(f"wrote {written.path}{sources}", err=True)
    if written.facts:
        echo("  from weight headers: " + ", ".join(f"{k}={v}" for k, v in sorted(written.facts.items())),
                   err=True)
    for note in written.notes:
        echo(f"  note: {note}", err=True)


@cli.command(name="import")
@click.argument("source")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--from", "source_format", type=click.Choice(sorted(_FORMAT_NAMES)),
              help="Read only this source format (default: the one SOURCE names, else all found).")
@click.option("--name", help="Model name to write (default: the source's, else the directory's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing modelcrate.yaml (and, for REF, files).")
@target_options
def import_(source: str, directory: str | None, source_format: str | None, name: str | None, force: bool,
            local: bool, config: Config) -> None:
    """Write modelcrate.yaml from a Hugging Face, MLflow, KitOps or modctl model.

    SOURCE is a model directory or its descriptor file: README.md / config.json (Hugging Face),
    MLmodel (MLflow), Kitfile (KitOps) or Modelfile (modctl); the yaml is written beside it (DIRECTORY,
    if given, must be that directory). SOURCE may also be a KitOps ModelKit or another tool's ModelPack
    artifact (a reference): its files are then written into DIRECTORY, with unpack's checks, and the yaml
    made from its Kitfile or config. Fields that cannot be mapped are reported; nothing is overwritten
    without --force.

    \b
    Example:
      modelcrate import ./bert-base-uncased
      modelcrate import ./mlruns/0/abc/artifacts/model/MLmodel
      modelcrate import ./kit/Kitfile --force
      modelcrate import localhost:5000/kit/sentiment:v1 ./sentiment
    """
    path = Path(source)
    if not path.exists():
        if not directory:
            raise UsageError(f"{source} is neither a path nor, without DIRECTORY, an artifact to import",
                             hint="import REF DIRECTORY writes an artifact's files and yaml into DIRECTORY")
        made = _convert.materialize(source, directory, force=force, local=local, config=config)
        echo(f"wrote {made.modelfile} and {len(made.files)} files from {made.source_kind} artifact {source}",
                   err=True)
        return
    root = path.parent if path.is_file() else path
    if directory and Path(directory).resolve() != root.resolve():
        raise UsageError(f"the model's files are in {root}; modelcrate.yaml must be written there",
                         hint=f"run `modelcrate import {root}`")
    fmt = _FORMAT_NAMES.get(source_format or "") or (_SOURCE_FILES.get(path.name) if path.is_file() else None)
    if path.is_file() and fmt is None:
        raise UsageError(f"{path.name} is not a source modelcrate imports ({', '.join(sorted(_SOURCE_FILES))})")
    formats = [fmt] if fmt else detect.detect(root)
    if not formats:
        raise UsageError(f"{root} holds no Hugging Face, MLflow, KitOps or modctl model",
                         hint="use `modelcrate init` for a plain directory")
    report_written(detect.write(root, name=name, force=force, formats=formats))


def _render_scan(result: _scan.ScanResult) -> None:
    rows = [[f.path, f.format, f.status, ", ".join(f.unsafe or f.globals)[:80] or (f.error or "")[:80]]
            for f in result.files if f.status != _scan.NOT_PICKLE]
    if rows:
        echo(table(["PATH", "FORMAT", "STATUS", "IMPORTS"], rows))
    s = summary(result)
    echo(f"{result.target}: {result.verdict} ({s['files']} files, {s['pickles']} pickle-based, "
               f"{s['unsafe']} unsafe, {s['errors']} unreadable)", err=True)


@cli.command(name="scan")
@click.argument("target", metavar="REF|DIR|FILE")
@click.option("--attest", is_flag=True, help="Attach the result to the model as a signed attestation.")
@signer_options
@target_options
@json_option
def scan_(target: str, attest: bool, key_path: str | None, cert_path: str | None, chain_path: str | None,
          keyless: bool, local: bool, as_json: bool, config: Config) -> None:
    """Find files that run code when loaded (pickles) in a directory, a file or a model.

    Files are recognised by content (.pt/.bin/.pkl/.joblib/.ckpt pickles, zip-wrapped PyTorch archives
    and their data.pkl, numpy object arrays, compressed pickles); each pickle's opcodes are walked, never
    unpickled, and the globals it imports are checked against an allow-list of tensor and array rebuilds.
    A model in a registry is read in full, so the verdict is about verified bytes. Exit 6 when a file is
    unsafe or could not be checked, 0 otherwise.

    \b
    Example:
      modelcrate scan ./my-model
      modelcrate scan ./checkpoints/last.ckpt
      modelcrate scan my-model:1.0.0 --json
      modelcrate scan localhost:5000/team/bert:1.0 --attest --key modelcrate.key
    """
    signing_flags = key_path or cert_path or chain_path or keyless
    if signing_flags and not attest:
        raise UsageError("--key, --cert, --cert-chain and --keyless go with --attest")
    path = Path(target)
    stored = None
    if path.is_dir() or path.is_file():
        if attest:
            raise UsageError("--attest needs a model reference: a path has no manifest digest to attest")
        result = _scan.scan_directory(path) if path.is_dir() else _scan.scan_files(path.parent, [path.name])
    else:
        signer = load_signer(key_path, cert_path, chain_path, keyless) if attest else None
        in_registry = not local and Reference.parse(target).registry is not None
        with api.subject(target, write=attest, local=local, config=config) as (name, t, desc):
            result = _scan.scan_reference(t, desc, name, verify=in_registry)
            if signer is not None:
                now = datetime.now(UTC)
                body = _scan.predicate(result, scanner_version=__version__,
                                       scanned_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
                attestation = signatures.attest(t, desc, name, signer, _scan.PREDICATE_TYPE, body, created=now)
                stored = {"digest": attestation.descriptor.digest, "predicateType": _scan.PREDICATE_TYPE}
    refusal = PolicyViolation(f"{len(result.refused)} file(s) would run code when loaded: "
                              + "; ".join(_scan.policy_gate(result))[:400]) if result.refused else None
    if as_json:  # one document: the verdict, and the error object when it refuses
        failed = error_object(str(refusal), refusal.hint, refusal.exit_code) if refusal is not None else {}
        emit_json({**result.to_dict(), **({"attestation": stored} if stored else {}), **failed})
        reported_in_json()
    else:
        _render_scan(result)
        if stored:
            echo(f"attested {_scan.PREDICATE_TYPE}: {stored['digest']}", err=True)
    if refusal is not None:
        raise refusal


@cli.command(name="convert")
@click.argument("ref")
@click.argument("dst")
@target_options
@json_option
def convert_(ref: str, dst: str, local: bool, as_json: bool, config: Config) -> None:
    """Re-package a KitOps ModelKit or another tool's ModelPack artifact as a modelcrate model.

    Every file keeps its bytes (checked against the source's digests as it is read); tar layers become
    one raw layer per file; the metadata comes from the Kitfile or the ModelPack config. DST is a
    local-store reference; push it afterwards.

    \b
    Example:
      modelcrate convert localhost:5000/kit/sentiment:v1 sentiment:1.0.0
    """
    converted = _convert.convert(ref, dst, local=local, config=config)
    if as_json:
        emit_json({"reference": converted.reference, "digest": converted.digest, "source": ref,
                   "sourceKind": converted.source_kind, "files": len(converted.files)})
        return
    echo(f"converted {ref} ({converted.source_kind}, {len(converted.files)} files) to {converted.reference}",
               err=True)
    echo(converted.digest)
