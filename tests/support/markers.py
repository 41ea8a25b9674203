"""The ``registry`` marker for tests that use a real registry (CI fails them, never skips them)."""

from __future__ import annotations

from pathlib import Path

import pytest

REGISTRY_FIXTURES = {"registry", "htpasswd_registry", "token_registry", "registry_factory", "fault_proxy"}


def mark_registry_tests(items: list[pytest.Item], here: Path) -> None:
    """Mark the tests under ``here`` that use one of the registry fixtures."""
    for item in items:
        if here in item.path.parents and REGISTRY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.registry)
