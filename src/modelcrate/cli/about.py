"""CLI commands about modelcrate itself: version, completion."""

from __future__ import annotations

import platform
import sys

import click

from .. import __version__
from .app import cli, emit_json, json_option
from .render import echo

# the runtime dependencies whose versions matter in a bug report
_DEPENDENCIES = ("click", "cryptography", "jsonschema", "pyyaml", "sigstore", "rich")


def _versions() -> dict[str, object]:
    from importlib import metadata

    from ..format.mediatypes import MODEL_ARTIFACT, MODEL_CONFIG, OCI_LAYOUT_VERSION
    from ..format.metadata import SCHEMA_ID

    deps: dict[str, str | None] = {}
    for name in _DEPENDENCIES:
        try:
            deps[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            deps[name] = None
    return {"modelcrate": __version__, "python": platform.python_version(),
            "spec": {"modelpack": {"artifactType": MODEL_ARTIFACT, "config": MODEL_CONFIG},
                     "metadata": SCHEMA_ID, "ociLayout": OCI_LAYOUT_VERSION},
            "dependencies": deps}


@cli.command()
@json_option
def version(as_json: bool) -> None:
    """Show modelcrate's version, the spec versions it implements and its dependencies.

    \b
    Example:
      modelcrate version
      modelcrate version --json
    """
    info = _versions()
    if as_json:
        emit_json(info)
        return
    spec = info["spec"]
    assert isinstance(spec, dict)
    echo(f"modelcrate {info['modelcrate']} (Python {info['python']})")
    echo(f"  ModelPack:   {spec['modelpack']['artifactType']}")
    echo(f"  metadata:    {spec['metadata']}")
    echo(f"  OCI layout:  {spec['ociLayout']}")
    deps = info["dependencies"]
    assert isinstance(deps, dict)
    echo("  " + ", ".join(f"{k} {v or 'not installed'}" for k, v in deps.items()))


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Completes commands, options and the references of the local store.

    \b
    Example:
      modelcrate completion bash > ~/.local/share/bash-completion/completions/modelcrate
      modelcrate completion zsh > "${fpath[1]}/_modelcrate"
      modelcrate completion fish > ~/.config/fish/completions/modelcrate.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # the choice limits it to the shells click supports
    # The script is shell code for the user to source, written as it is (not escaped like messages).
    sys.stdout.write(cls(cli, {}, "modelcrate", "_MODELCRATE_COMPLETE").source() + "\n")
