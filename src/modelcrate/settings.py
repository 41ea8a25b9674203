"""Configuration resolved once, at the edge, and passed down: nothing below reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where the local store lives and how operations behave."""

    home: Path
    source_date_epoch: str | None = None
    concurrency: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """``$MODELCRATE_HOME``, else ``$XDG_DATA_HOME/modelcrate``, else ``~/.local/share/modelcrate``."""
        env = os.environ if env is None else env
        home = env.get("MODELCRATE_HOME")
        if not home:
            data = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
            home = str(Path(data) / "modelcrate")
        return cls(Path(home).expanduser(), env.get("SOURCE_DATE_EPOCH") or None)
