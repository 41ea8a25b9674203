"""modelcrate: machine-learning models as OCI artifacts.

The public API, by reference string (see :mod:`modelcrate.api` for the resolution rules)::

    import modelcrate
    modelcrate.pack("./bert", "localhost:5000/team/bert:1.0")
    modelcrate.push("localhost:5000/team/bert:1.0")
    modelcrate.sign("localhost:5000/team/bert:1.0", signer)
    modelcrate.pull("localhost:5000/team/bert:1.0", "./serving", key="release.pub")

The names are loaded on first use, so ``import modelcrate`` does not import the signing or HTTP stacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_API: dict[str, tuple[str, str]] = {
    **{name: ("modelcrate.api", name) for name in (
        "attest", "catalog", "copy", "diff", "discover", "init", "inspect", "lineage", "login", "logout", "pack",
        "pull", "push", "resolve", "search", "sign", "tag", "unpack", "verify", "verify_attestation")},
    **{name: ("modelcrate.governance", name) for name in ("approve", "check_policy", "reject")},
    "list": ("modelcrate.api", "list_models"),
    "rm": ("modelcrate.api", "remove"),
    "tags": ("modelcrate.api", "list_tags"),
    "Config": ("modelcrate.config", "Config"),
}

__all__ = sorted(_API)

if TYPE_CHECKING:
    from .api import (attest, catalog, copy, diff, discover, init, inspect, lineage, login, logout,  # noqa: F401
                      pack, pull, push, resolve, search, sign, tag, unpack, verify, verify_attestation)
    from .api import list_models as list, list_tags as tags, remove as rm  # noqa: F401
    from .config import Config  # noqa: F401
    from .governance import approve, check_policy, reject  # noqa: F401


def __getattr__(name: str) -> Any:
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'modelcrate' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
