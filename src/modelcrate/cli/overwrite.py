"""``--force --key FILE [--reason TEXT]``: the options push, copy and tag share for overwriting a version tag.

The decorated command receives one ``overwrite`` argument (None unless ``--force``); the rule itself and
its signed record live in :mod:`modelcrate.lifecycle.versions`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError

if TYPE_CHECKING:
    from ..lifecycle.versions import Overwrite

_OPTIONS = (
    click.option("--force", is_flag=True,
                 help="Overwrite a version tag that names another digest (needs --key: the overwrite is recorded)."),
    click.option("--key", "overwrite_key", type=click.Path(dir_okay=False, exists=True),
                 help="With --force: private key that signs the record of the overwrite "
                      "(password from $MODELCRATE_KEY_PASSWORD or a prompt)."),
    click.option("--reason", "overwrite_reason", default="", help="With --force: why (kept in the signed record)."),
)


def overwrite_options(f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)
    def run(*args: Any, force: bool, overwrite_key: str | None, overwrite_reason: str, **kwargs: Any) -> Any:
        return f(*args, overwrite=_overwrite(force, overwrite_key, overwrite_reason), **kwargs)

    for option in reversed(_OPTIONS):
        run = option(run)
    return run


def _overwrite(force: bool, key_path: str | None, reason: str) -> Overwrite | None:
    if not force:
        if key_path or reason:
            raise UsageError("--key and --reason record a forced overwrite: they go with --force")
        return None
    from ..lifecycle.versions import Overwrite  # the lifecycle package, only when forcing
    from .signers import load_signer

    if key_path is None:
        return Overwrite(None, reason)  # refused with a clear message, only if a version tag would move
    return Overwrite(load_signer(key_path, None, None, False), reason)
