"""The ``modelcrate`` command: wires the group of :mod:`modelcrate.cli.app` to the console script.

The commands live in one module per family (``store``, ``transfer``, ``signing``), loaded on demand.
"""

from __future__ import annotations

from .app import cli, emit_json, json_option

__all__ = ["cli", "emit_json", "json_option", "main"]


def main() -> None:
    cli(prog_name="modelcrate")


if __name__ == "__main__":
    main()
