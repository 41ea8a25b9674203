"""The model registry's lifecycle on OCI: stage tags, signed promotion records in a verifiable history
chain per stage, rollback, deprecation and retirement (spec/lifecycle.md).

The functions here take reference strings (see :mod:`.api`); the modules below work on Targets:
:mod:`.records` and :mod:`.chain` are pure (bytes and verified facts in, decisions out), :mod:`.reader`
reads a chain, :mod:`.writer` appends to one, :mod:`.deprecation` signs and finds deprecations.
"""

from .api import (
    Context,
    Promoted,
    Retired,
    StageReport,
    demote,
    deprecate,
    deprecated,
    history,
    promote,
    retire,
    rollback,
)
from .deprecation import deprecation_of
from .overview import VersionStatus, status

__all__ = ["Context", "Promoted", "Retired", "StageReport", "VersionStatus", "demote", "deprecate",
           "deprecated", "deprecation_of", "history", "promote", "retire", "rollback", "status"]
