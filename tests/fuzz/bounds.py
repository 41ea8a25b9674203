"""The property every parser of untrusted input must keep: it returns, or raises a ModelcrateError with
a one-line message, within a time and memory bound."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from modelcrate.errors import ModelcrateError

SECONDS = 5.0  # per input, on a busy 2-core machine with tracemalloc on; real parses take milliseconds
PEAK_BYTES = 64 << 20  # inputs are at most a few MiB; no parser may blow one up further


def only_modelcrate_errors(parse: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``parse``; fail on any other exception, a multi-line message, or a time or memory bound."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        return parse(*args, **kwargs)
    except ModelcrateError as exc:
        message = exc.diagnostics()
        assert message and "\n" not in message and "\r" not in message, f"not one line: {message!r}"
        assert len(message) < 2000, f"a {len(message)}-character message"
        return exc
    finally:
        elapsed = time.perf_counter() - start
        _size, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < SECONDS, f"took {elapsed:.1f} s"
        assert peak < PEAK_BYTES, f"peaked at {peak >> 20} MiB"
