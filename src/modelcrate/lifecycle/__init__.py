"""The model registry's lifecycle on OCI: stage tags, signed promotion records in a verifiable history
chain per stage, rollback, deprecation and retirement (spec/lifecycle.md).

The functions here take reference strings (see :mod:`.api`); the modules below work on Targets:
:mod:`.records` and :mod:`.chain` are pure (bytes and verified facts in, decisions out), :mod:`.reader`
reads a chain, :mod:`.writer` appends to one, :mod:`.deprecation` signs and finds deprecations.
"""

from .._internal.lazy import exports

# Loaded on first use, so that a module below (say, versions on every push) does not load the whole
# lifecycle and its signing stack.
_EXPORTS = {"Context": "api", "Promoted": "api", "Retired": "api", "StageReport": "api", "demote": "api",
            "deprecate": "api", "deprecated": "api", "history": "api", "promote": "api", "retire": "api",
            "rollback": "api", "deprecation_of": "deprecation", "VersionStatus": "overview", "status": "overview"}

__all__ = sorted(_EXPORTS)

__getattr__ = exports(__name__, _EXPORTS)
