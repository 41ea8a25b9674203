"""The examples in the signing modules' docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["__init__", "dsse", "statement", "predicates", "keys", "bundle", "oms", "cosign"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module("modelcrate.signing" if name == "__init__" else f"modelcrate.signing.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
