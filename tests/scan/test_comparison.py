"""modelcrate's scan against picklescan and modelscan on the same corpus (each only when installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .compare import run
from .corpus import corpus


def test_at_least_as_good_as_the_other_scanners(tmp_path: Path) -> None:
    samples = corpus()
    tallies = run(tmp_path, samples)
    ours = tallies["modelcrate"]
    assert len(ours.detected) == sum(s.malicious for s in samples) and not ours.false_positives
    others = {name: t for name, t in tallies.items() if name != "modelcrate"}
    if not others:
        pytest.skip("neither picklescan nor modelscan is installed (pip install -e '.[test]')")
    for name, t in others.items():
        assert set(t.detected) <= set(ours.detected), f"{name} found something modelcrate missed"
        assert len(ours.false_positives) <= len(t.false_positives), name
