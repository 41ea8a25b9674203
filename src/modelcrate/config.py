"""One configuration, resolved once at the edge and passed down.

The CLI and the public API build a :class:`Config` with :meth:`Config.from_env`; every operation below
them takes it as a plain value and never reads the environment itself, so a library caller (or a test)
can run two configurations side by side in one process.

>>> from pathlib import Path
>>> Config(Path("/tmp/store")).concurrency == DEFAULT_CONCURRENCY
True
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registry settings pull in the HTTP stack; load it only when a registry is used
    from .content.remote.settings import RemoteSettings

DEFAULT_CONCURRENCY = 4  # files hashed or blobs moved in parallel, for pack, push, pull and copy
DEFAULT_ROUNDS = 3  # copy runs after a network failure (each resumes what arrived)


class CancelToken:
    """Asks running transfers to stop: no new request, no retry, open connections shut down."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        from .content.remote.http import cancel_all  # the connections to shut down live there

        self._event.set()
        cancel_all()

    @property
    def cancelled(self) -> bool:
        from .content.remote.http import cancelled

        return self._event.is_set() or cancelled()


@dataclass(frozen=True)
class Config:
    """Where the local store lives and how operations behave.

    ``home`` is the local store (an OCI image layout). ``source_date_epoch`` fixes pack's creation time.
    ``remote`` says how to reach registries (TLS, timeouts, retries, credentials); ``None`` means the
    defaults with the docker config of ``docker_config``. ``concurrency`` is the default parallelism of
    pack, push, pull and copy; ``rounds`` how often an interrupted transfer is run again."""

    home: Path
    source_date_epoch: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    remote: RemoteSettings | None = None
    docker_config: Path | None = None
    rounds: int = DEFAULT_ROUNDS
    cancel: CancelToken = field(default_factory=CancelToken, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Config:
        """``$MODELCRATE_HOME``, else ``$XDG_DATA_HOME/modelcrate``, else ``~/.local/share/modelcrate``;
        ``$SOURCE_DATE_EPOCH``; the docker config at ``$DOCKER_CONFIG``, else ``~/.docker``."""
        env = os.environ if env is None else env
        user_home = Path(env.get("HOME") or Path.home())
        home = env.get("MODELCRATE_HOME")
        if not home:
            home = str(Path(env.get("XDG_DATA_HOME") or user_home / ".local" / "share") / "modelcrate")
        docker = Path(env["DOCKER_CONFIG"]).expanduser() if env.get("DOCKER_CONFIG") else user_home / ".docker"
        values: dict[str, object] = {"home": Path(home).expanduser(),
                                     "source_date_epoch": env.get("SOURCE_DATE_EPOCH") or None,
                                     "docker_config": docker, **overrides}
        return cls(**values)  # type: ignore[arg-type]

    @property
    def state_dir(self) -> Path:
        """Beside the store's content: what transfers remember between runs (blob locations for mounts,
        open upload sessions). Only hints; never trusted for content."""
        return self.home / "state"

    def registry(self) -> RemoteSettings:
        """The registry settings: ``remote`` if given, else the defaults with this docker config; the
        state directory is this store's unless ``remote`` names one."""
        from dataclasses import replace

        from .content.remote.settings import RemoteSettings

        if self.remote is not None:
            return self.remote if self.remote.state_dir is not None else replace(self.remote, state_dir=self.state_dir)
        return RemoteSettings(docker_config=self.docker_config, state_dir=self.state_dir)
