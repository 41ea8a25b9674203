"""The one progress renderer of the CLI, for every long operation (pack, unpack, push, pull, copy).

Drawn with ``rich`` (already installed with sigstore): it redraws in place, adapts to the terminal's
width and is safe to call from worker threads. Shown only when stderr is a terminal and ``-q``/``--json``
are not given; ``rich`` is imported only then, so start-up and piped runs never pay for it.

The ETA is left blank until it means something: after two seconds and 2 % of the bytes, and never above
a day (an early estimate from a slow first second is noise, not information).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from ..config import Config
from ..format.descriptor import Descriptor
from ..format.mediatypes import ANN_FILEPATH, ANN_TITLE
from .render import human_size, printable

if TYPE_CHECKING:  # the copy machinery loads with the operation, not with `modelcrate list`
    from ..graphcopy import Progress

ETA_AFTER_SECONDS = 2.0
ETA_AFTER_FRACTION = 0.02
ETA_MAX_SECONDS = 24 * 3600


def eta_text(elapsed: float, done: int, total: int) -> str:
    """``"1m05s"``, or ``""`` while an estimate would be noise.

    >>> eta_text(10.0, 50, 100), eta_text(0.5, 50, 100), eta_text(10.0, 1, 1000)
    ('10s', '', '')
    """
    if total <= 0 or done <= 0 or done >= total or elapsed < ETA_AFTER_SECONDS or done / total < ETA_AFTER_FRACTION:
        return ""
    left = elapsed * (total - done) / done
    if left > ETA_MAX_SECONDS:
        return ""
    minutes, seconds = divmod(int(left + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def label(desc: Descriptor, width: int = 28) -> str:
    name = printable(desc.annotation(ANN_FILEPATH) or desc.annotation(ANN_TITLE) or desc.digest[7:19])
    return name if len(name) <= width else "…" + name[-(width - 1):]


class Bars:
    """One bar per blob in flight and a total line; finished blobs are listed above the bars. While files
    are hashed (pack, and push DIR before it sends) only the total line moves, by the bytes read, under
    ``reading`` (default: ``verb``).

    A :class:`~modelcrate.graphcopy.Progress` (the same events), called from the copy's worker threads."""

    def __init__(self, out: TextIO, verb: str, *, reading: str | None = None, width: int | None = None,
                 terminal: bool | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress as RichProgress, TextColumn

        self.console = Console(file=out, width=width, force_terminal=terminal, highlight=False, soft_wrap=False)
        narrow = self.console.width < 70
        self.name_width = 16 if narrow else 28
        columns: list[Any] = [TextColumn("{task.description}", style="", markup=False),
                              BarColumn(bar_width=None if narrow else 24), DownloadColumn(binary_units=True)]
        if not narrow:
            columns.append(TextColumn("{task.fields[rate]}", markup=False))
        columns.append(TextColumn("{task.fields[eta]}", markup=False))
        self.bars = RichProgress(*columns, console=self.console, transient=True, auto_refresh=True,
                                 refresh_per_second=8, expand=narrow)
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.tasks: dict[str, tuple[Any, int]] = {}  # digest -> (rich task, bytes done)
        self.total_bytes = self.done_bytes = 0
        self.verb, self.reading_verb, self.reading = verb, reading or verb, False
        self.total = self.bars.add_task(self._title(verb), total=0, rate="", eta="")
        self.bars.start()

    def _title(self, verb: str) -> str:
        return f"{verb:<{self.name_width}}"

    def _line(self, word: str, desc: Descriptor) -> None:
        self.console.print(f"  {word:<8} {label(desc, self.name_width)}  {human_size(desc.size)}", markup=False,
                           highlight=False)

    def _total(self) -> None:  # lock held
        elapsed = time.monotonic() - self.t0
        done, total = self.done_bytes, self.total_bytes
        rate = f"{human_size(int(done / elapsed))}/s" if elapsed >= ETA_AFTER_SECONDS and done else ""
        self.bars.update(self.total, total=total, completed=done, rate=rate, eta=eta_text(elapsed, done, total))

    def hashing(self, nbytes: int) -> None:
        with self.lock:
            self.reading, self.t0 = True, time.monotonic()
            self.total_bytes, self.done_bytes = nbytes, 0
            self.bars.update(self.total, description=self._title(self.reading_verb))
            self._total()

    def hashed(self, nbytes: int) -> None:
        with self.lock:
            self.done_bytes += nbytes
            self.total_bytes = max(self.total_bytes, self.done_bytes)  # a tar's headers were not counted
            self._total()

    def _copying(self) -> None:  # lock held: the first copy event after hashing starts the count anew
        if self.reading:
            self.reading, self.t0 = False, time.monotonic()
            self.total_bytes = self.done_bytes = 0
            self.bars.update(self.total, description=self._title(self.verb))

    def start(self, desc: Descriptor) -> None:
        with self.lock:
            self._copying()
            previous = self.tasks.pop(desc.digest, None)
            if previous is not None:  # started again after an interruption: its bytes count again
                task, done = previous
                self.done_bytes -= done
                self.bars.remove_task(task)
            else:
                self.total_bytes += desc.size
            name = f"  {label(desc, self.name_width - 2):<{self.name_width - 2}}"
            self.tasks[desc.digest] = (self.bars.add_task(name, total=desc.size, rate="", eta=""), 0)
            self._total()

    def advance(self, desc: Descriptor, nbytes: int) -> None:
        with self.lock:
            entry = self.tasks.get(desc.digest)
            if entry is not None:
                self.tasks[desc.digest] = (entry[0], entry[1] + nbytes)
                self.bars.advance(entry[0], nbytes)
            self.done_bytes += nbytes
            self._total()

    def done(self, desc: Descriptor) -> None:
        with self.lock:
            entry = self.tasks.pop(desc.digest, None)
            if entry is None:  # a file hashed or stored before any copy: the total line counted it
                if not self.reading:
                    self._line("ready", desc)
                return
            self.done_bytes += desc.size - entry[1]
            self.bars.remove_task(entry[0])
            self._total()
            self._line("done", desc)

    def skipped(self, desc: Descriptor) -> None:
        with self.lock:
            self._copying()
        if desc.size > 4096:
            self._line("exists", desc)

    def mounted(self, desc: Descriptor) -> None:
        with self.lock:
            self._copying()
        self._line("mounted", desc)

    def finish(self) -> None:
        self.bars.stop()


def progress_for(quiet: bool, verb: str, out: TextIO | None = None, *, reading: str | None = None) -> Progress:
    """The renderer when ``out`` (stderr) is a terminal and output is not quiet; else silent events.
    ``reading``: what the total line says while files are hashed before a copy (default: ``verb``)."""
    out = out or sys.stderr
    if quiet or not out.isatty():
        from ..graphcopy import Progress

        return Progress()
    return Bars(out, verb, reading=reading)  # type: ignore[return-value]


@contextmanager
def showing(progress: Progress, config: Config | None = None) -> Iterator[Progress]:
    """Run a long operation with ``progress``: Ctrl-C cancels every connection at once so worker threads
    stop now, and the interrupt then unwinds through the stores' clean-up (the group prints
    "interrupted", exit 130); the bars are cleared at the end, whatever happened."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        if config is not None:
            config.cancel.cancel()
        raise KeyboardInterrupt

    previous: Callable[..., Any] | int | None = None
    try:
        previous = signal.signal(signal.SIGINT, interrupt)
    except ValueError:  # not the main thread (an embedding caller): leave its handler alone
        previous = None
    try:
        yield progress
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if isinstance(progress, Bars):
            progress.finish()
