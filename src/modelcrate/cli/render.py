"""Plain-text rendering for the CLI: the one escape of untrusted text for the terminal, tables and sizes.

Tag names, catalog entries, registry error messages and artifact metadata are written by others; printed
raw, an OSC/CSI sequence or a ``\\r`` in them could retitle the terminal, rewrite earlier lines or hide a
warning. Every human-readable line goes through :func:`printable` (via :func:`echo`, :func:`table` and
the error path of the click group); ``--json`` output needs nothing more (``json.dumps`` escapes).
"""

from __future__ import annotations

import re

import click

# C0 controls except tab and newline, DEL, C1 controls, and the bidirectional overrides and isolates
# that reorder what is displayed ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` with every terminal control character shown as an escape: ``'a\\x1b]0;x\\x07'`` prints as
    ``a\\x1b]0;x\\x07`` (visible backslashes), newlines and tabs kept.

    >>> printable("tag\\x1b[2J\\rok")
    'tag\\\\x1b[2J\\\\rok'
    """
    return _UNSAFE.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\r":
        return "\\r"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def echo(text: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Print one human-readable message (stdout, or stderr with ``err``), escaped for the terminal."""
    click.echo(printable(text), err=err, nl=nl)


def human_size(n: int) -> str:
    """``human_size(1536)`` → ``'1.5 KiB'``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces; every cell escaped for the terminal (one line each)."""
    cells = [[printable(c).replace("\n", "\\n").replace("\t", "\\t") for c in row] for row in [headers, *rows]]
    widths = [max(len(c) for c in col) for col in zip(*cells)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)
