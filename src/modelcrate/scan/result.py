"""Scan results, the policy gate and the signed predicate: pure values, no I/O (spec/scan.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .allowlist import is_known_dangerous

PREDICATE_TYPE = "https://modelcrate.dev/scan/v1"

# statuses, from harmless to refused
NOT_PICKLE = "not-pickle"  # no pickle inside (safetensors, GGUF, text, ...)
SAFE_PICKLE = "pickle-safe"  # a pickle that imports only allow-listed globals
UNSAFE = "unsafe"  # loading it imports (and so may run) something outside the allow-list
ERROR = "error"  # a pickle-based file that could not be walked to its end: treated as unsafe


@dataclass(frozen=True)
class FileScan:
    """One scanned file (``path``) or one member of an archive (``path:member``)."""

    path: str
    format: str  # pickle, torch-zip, numpy-object, numpy, zip, safetensors, gguf, onnx, other, ...
    status: str
    globals: tuple[str, ...] = ()
    unsafe: tuple[str, ...] = ()
    protocol: int | None = None
    error: str | None = None
    digest: str | None = None

    @property
    def refused(self) -> bool:
        return self.status in (UNSAFE, ERROR)

    def to_dict(self) -> dict[str, Any]:
        """Every entry has the same keys (spec/scan.md): a key that does not apply is null or empty."""
        return {"path": self.path, "format": self.format, "status": self.status, "protocol": self.protocol,
                "globals": list(self.globals), "unsafe": list(self.unsafe),
                "dangerous": [g for g in self.unsafe if is_known_dangerous(g)], "error": self.error,
                "digest": self.digest}


@dataclass(frozen=True)
class ScanResult:
    """Every file of a directory or model, in path order."""

    target: str
    files: tuple[FileScan, ...] = field(default_factory=tuple)

    @property
    def refused(self) -> list[FileScan]:
        return [f for f in self.files if f.refused]

    @property
    def verdict(self) -> str:
        if self.refused:
            return UNSAFE
        if any(f.status == SAFE_PICKLE for f in self.files):
            return SAFE_PICKLE
        return "clean"

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "verdict": self.verdict, "summary": summary(self),
                "files": [f.to_dict() for f in self.files]}


def summary(result: ScanResult) -> dict[str, int]:
    files = result.files
    return {"files": len(files), "pickles": sum(1 for f in files if f.status != NOT_PICKLE),
            "unsafe": sum(1 for f in files if f.status == UNSAFE), "errors": sum(1 for f in files if f.status == ERROR)}


def policy_gate(result: ScanResult, *, deny_unsafe_pickle: bool = True) -> list[str]:
    """Reasons to refuse the model under ``formats: {deny_unsafe_pickle: true}``; empty means allowed.
    A pickle that could not be walked is refused too: the rule fails closed."""
    if not deny_unsafe_pickle:
        return []
    reasons = []
    for f in result.refused:
        if f.status == ERROR:
            reasons.append(f"{f.path}: pickle-based file that could not be checked ({f.error})")
        else:
            reasons.append(f"{f.path}: unpickling imports {', '.join(f.unsafe)}")
    return reasons


def predicate(result: ScanResult, *, scanner_version: str, scanned_at: str) -> dict[str, Any]:
    """The ``https://modelcrate.dev/scan/v1`` predicate for a scan of one model manifest."""
    return {
        "scanner": {"name": "modelcrate", "version": scanner_version, "allowList": "modelcrate.scan.allowlist"},
        "scannedAt": scanned_at,
        "verdict": result.verdict,
        "summary": summary(result),
        "files": [f.to_dict() for f in result.files],
    }
