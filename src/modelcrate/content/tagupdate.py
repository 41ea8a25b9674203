"""Read-modify-write of one tag: the referrers fallback index, cosign's ``.sig`` image, and the like.

OCI registries offer no compare-and-swap on tags. Where the Target has a lock (the local store) the whole
read-change-write runs under it and is exact. Elsewhere we write, then re-read after short pauses; if the
tag names something else by then, a concurrent writer replaced it, so ``change`` is asked again with what
the tag names now (it knows whether our change is already included) and we retry. After ``attempts`` we
raise :class:`LostRace` rather than return with our change silently lost.

The re-read window is a bound, not a guarantee: a writer stalled for longer than the pauses between its
own read and write can still overwrite us. That writer re-reads too and is then the one that retries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import NotFound, StoreError
from ..format.descriptor import Descriptor
from .target import TagLocker, Target

Change = Callable[[Descriptor | None], Descriptor | None]


class LostRace(StoreError):
    """Concurrent writers kept moving the tag; hint: run again."""


@dataclass(frozen=True)
class TagUpdate:
    """What :func:`update_tag` did."""

    descriptor: Descriptor | None  # what the tag names after the update (None: absent and nothing wanted)
    changed: bool  # False when change() said the current value already satisfies it
    attempts: int  # 1 when no race was seen


def current(target: Target, tag: str) -> Descriptor | None:
    """What ``tag`` names now, or None when it is absent."""
    try:
        return target.resolve(tag)
    except NotFound:
        return None


def update_tag(target: Target, tag: str, change: Change, *, attempts: int = 6,
               pauses: tuple[float, ...] = (0.05, 0.2)) -> TagUpdate:
    """Read-modify-write one tag.

    ``change(current)`` gets what the tag names now (None if absent) and returns the descriptor (already
    pushed) the tag should name, or None when ``current`` already satisfies it.
    """
    if isinstance(target, TagLocker):
        with target.tag_lock():
            return _write_once(target, tag, change)
    now = current(target, tag)
    changed = False
    for attempt in range(1, attempts + 1):
        wanted = change(now)
        if wanted is None:
            return TagUpdate(now, changed, attempt)
        target.tag(wanted, tag)
        changed = True
        now = _settled(target, tag, wanted, pauses)
        if now is not None and now.digest == wanted.digest:
            return TagUpdate(wanted, True, attempt)
    raise LostRace(f"could not update tag {tag} of {target.name}: concurrent writers kept replacing it",
                   hint="run the command again")


def _write_once(target: Target, tag: str, change: Change) -> TagUpdate:
    now = current(target, tag)
    wanted = change(now)
    if wanted is None:
        return TagUpdate(now, False, 1)
    target.tag(wanted, tag)
    return TagUpdate(wanted, True, 1)


def _settled(target: Target, tag: str, wanted: Descriptor, pauses: tuple[float, ...]) -> Descriptor | None:
    """What the tag names after the pauses, or as soon as it names something other than ``wanted``."""
    now: Descriptor | None = wanted
    for pause in pauses:
        time.sleep(pause * (1 + random.random()))  # jitter: two writers in step would keep colliding
        now = current(target, tag)
        if now is None or now.digest != wanted.digest:
            return now
    return now
