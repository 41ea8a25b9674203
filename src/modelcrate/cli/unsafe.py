"""The warnings unpack and pull print when the files they wrote would run code when loaded.

Apart from the import and scan commands so that a pull loads only the scanner, not the importers and the
signing stack those commands need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Config
from ..format.reference import Reference
from .render import echo

if TYPE_CHECKING:
    from ..scan import ScanResult


def warn_unsafe(result: ScanResult | None) -> None:
    """The warning unpack and pull print when the files they wrote would run code when loaded."""
    if result is None:
        return
    for f in result.refused:
        what = f"imports {', '.join(f.unsafe)}" if f.unsafe else f"could not be checked ({f.error})"
        echo(f"modelcrate: warning: {f.path} is a pickle that {what}; loading it runs code "
             "(see `modelcrate scan`)", err=True)


def warn_unsafe_stored(ref: str, digest: str, cfg: Config) -> None:
    """After a pull into the local store: scan the stored model (header reads for non-pickles) and warn."""
    from ..scan import scan_reference
    from ..targets import open_target

    r = Reference.parse(ref)
    with open_target(r, cfg, write=False, local=True) as t:
        warn_unsafe(scan_reference(t, t.resolve(digest), r.name, verify=False))
