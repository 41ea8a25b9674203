"""The client's checkpoints: per registry/repository/stage, the last history head it verified.

A small JSON file in the store's state directory (spec/lifecycle.md "The checkpoint file"). Not secret,
but written atomically under a lock, and a damaged file is an error rather than "no checkpoints": losing
it silently would let a rewritten history through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._internal.fsutil import atomic_write, locked
from ..errors import StoreError
from ..format import canonical, untrusted_json
from ..format import digest as _digest
from .chain import Checkpoint

FILENAME = "history-checkpoints.json"
VERSION = 1
_LIMIT = 16 * 1024 * 1024


class Checkpoints:
    """``Checkpoints(state_dir)``; :meth:`get` and :meth:`remember` by repository name and stage."""

    def __init__(self, state_dir: Path | str) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / FILENAME

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            doc = untrusted_json.loads(raw, max_bytes=_LIMIT, max_depth=8, what=str(self.path), error=StoreError)
            if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("heads"), dict):
                raise ValueError("unexpected shape")
            return doc["heads"]
        except (ValueError, StoreError):
            raise StoreError(f"{self.path} is damaged; history checkpoints cannot be trusted",
                             hint="restore it from a backup; delete it only if you accept re-trusting every history"
                             ) from None

    def get(self, name: str, stage: str) -> Checkpoint | None:
        per_name = self._read().get(name)
        entry = per_name.get(stage) if isinstance(per_name, dict) else None
        if entry is None:
            return None
        dgst = entry.get("digest") if isinstance(entry, dict) else None
        seq = entry.get("sequence") if isinstance(entry, dict) else None
        if not isinstance(dgst, str) or not _digest.is_digest(dgst) or not isinstance(seq, int) or seq < 1:
            raise StoreError(f"{self.path} holds a damaged checkpoint for {name} {stage}")
        return Checkpoint(dgst, seq)

    def remember(self, name: str, stage: str, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` unless one at a later sequence is already there (another process was ahead)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with locked(self.dir / (FILENAME + ".lock")):
                heads = self._read()
                known = heads.get(name, {}).get(stage)
                if isinstance(known, dict) and isinstance(known.get("sequence"), int) \
                        and known["sequence"] >= checkpoint.sequence:
                    return
                heads.setdefault(name, {})[stage] = {"digest": checkpoint.digest, "sequence": checkpoint.sequence}
                atomic_write(self.path, canonical.dumps({"version": VERSION, "heads": heads}))
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror}") from None
