"""Run the CLI with stderr on a pseudo-terminal, as a user at a terminal sees it (progress bars show)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios

from tests.conftest import cli_path


def on_terminal(args: list[str], env: dict[str, str], columns: int = 60,
                timeout: float = 60) -> tuple[int, bytes, str]:
    """(exit code, stdout, what the terminal ``columns`` wide showed) of ``modelcrate ARGS``."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen([cli_path(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env={**env, "COLUMNS": str(columns), "TERM": "xterm"})
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    stdout, _ = proc.communicate(timeout=timeout)
    os.close(master)
    return proc.returncode, stdout, shown.decode("utf-8", "replace")
