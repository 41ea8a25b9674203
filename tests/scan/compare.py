"""Detection on the corpus: modelcrate's scan side by side with picklescan and modelscan (when installed).

``python -m tests.scan.compare`` prints the table; tests/scan/test_comparison.py asserts modelcrate
detects at least what each other tool detects, with no more false positives.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelcrate.scan import scan_stream

from .corpus import Sample, corpus

Detector = Callable[[Path], bool]


@dataclass
class Tally:
    detected: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)
    clean: list[str] = field(default_factory=list)


def ours(path: Path) -> bool:
    with open(path, "rb") as f:
        return any(r.refused for r in scan_stream(path.name, f))


def picklescan_detector() -> Detector | None:
    try:
        from picklescan.scanner import scan_file_path
    except ImportError:
        return None

    def detect(path: Path) -> bool:
        result = scan_file_path(str(path))
        return bool(result.infected_files or result.issues_count)

    return detect


def modelscan_detector() -> Detector | None:
    try:
        from modelscan.modelscan import ModelScan
        from modelscan.settings import DEFAULT_SETTINGS
    except ImportError:
        return None
    logging.getLogger("modelscan").setLevel(logging.CRITICAL)

    def detect(path: Path) -> bool:
        with contextlib.redirect_stdout(io.StringIO()):
            report = ModelScan(settings=DEFAULT_SETTINGS).scan(str(path))
        return bool(report.get("issues"))

    return detect


def detectors() -> dict[str, Detector]:
    found: dict[str, Detector | None] = {"modelcrate": ours, "picklescan": picklescan_detector(),
                                         "modelscan": modelscan_detector()}
    return {name: d for name, d in found.items() if d is not None}


def run(root: Path, samples: list[Sample] | None = None) -> dict[str, Tally]:
    samples = samples if samples is not None else corpus()
    tallies = {name: Tally() for name in detectors()}
    for i, sample in enumerate(samples):
        folder = root / f"{i:03d}"
        folder.mkdir()
        path = folder / sample.name
        path.write_bytes(sample.data)
        for name, detect in detectors().items():
            try:
                hit = detect(path)
            except Exception:  # another tool crashing on a sample counts as not detecting it
                hit = False
            t = tallies[name]
            if sample.malicious:
                (t.detected if hit else t.missed).append(sample.name)
            else:
                (t.false_positives if hit else t.clean).append(sample.name)
    return tallies


def main() -> None:
    samples = corpus()
    with tempfile.TemporaryDirectory() as tmp:
        tallies = run(Path(tmp), samples)
    bad = sum(s.malicious for s in samples)
    print(f"corpus: {len(samples)} files, {bad} malicious, {len(samples) - bad} benign")
    print(f"{'tool':<12} {'detected':>9} {'missed':>7} {'false pos.':>11}")
    for name, t in tallies.items():
        print(f"{name:<12} {len(t.detected):>9} {len(t.missed):>7} {len(t.false_positives):>11}")
    for name, t in tallies.items():
        if t.missed or t.false_positives:
            print(f"{name}: missed {t.missed}; false positives {t.false_positives}")


if __name__ == "__main__":
    main()
