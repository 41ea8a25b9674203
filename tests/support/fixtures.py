"""pytest fixtures for real-registry tests.

Load them once from the top-level conftest: ``pytest_plugins = ["tests.support.fixtures"]``
(or import the names into a test module). Session-scoped registries are shared: use
distinct repository names per test, and ``registry_factory`` for a private instance
(e.g. when a test tampers with stored blobs or needs clean token-server counters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.registry import RegistryProcess, require_registry


def _started(**kwargs: Any) -> RegistryProcess:
    return RegistryProcess(binary=require_registry(), **kwargs).start()


@pytest.fixture(scope="session")
def registry() -> Iterator[RegistryProcess]:
    """Plain registry, no auth."""
    reg = _started()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def htpasswd_registry() -> Iterator[RegistryProcess]:
    """Basic auth; credentials in ``.username`` / ``.password``."""
    reg = _started(auth="htpasswd")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def token_registry() -> Iterator[RegistryProcess]:
    """Bearer token auth; ``.token_server`` issues tokens for ``.username`` / ``.password``."""
    reg = _started(auth="token")
    yield reg
    reg.stop()


@pytest.fixture
def registry_factory() -> Iterator[Callable[..., RegistryProcess]]:
    """``registry_factory(auth=..., extra_config=..., token_options=...)`` -> a started, private registry."""
    started: list[RegistryProcess] = []

    def make(**kwargs: Any) -> RegistryProcess:
        reg = _started(**kwargs)
        started.append(reg)
        return reg

    yield make
    for reg in started:
        reg.stop()


@pytest.fixture
def fault_proxy(registry: RegistryProcess) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the shared plain ``registry`` (starts in pass-through)."""
    with FaultProxy(registry.port) as proxy:
        yield proxy
