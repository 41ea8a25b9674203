"""The unsafe-format scan: which files of a model would run code when loaded (spec/scan.md).

Files are recognised by content; pickles are walked opcode by opcode (:mod:`.pickles`), never unpickled,
and each global they import is checked against an allow-list (:mod:`.allowlist`). :func:`policy_gate` is
the ``formats: {deny_unsafe_pickle: true}`` rule; :func:`predicate` the signed attestation's body.
"""

from __future__ import annotations

from .result import ERROR, NOT_PICKLE, PREDICATE_TYPE, SAFE_PICKLE, UNSAFE, FileScan, ScanResult, policy_gate, predicate
from .scanner import UnpackGate, deny_stored, refuse_unsafe, scan_directory, scan_files, scan_model, scan_reference
from .sniff import scan_stream

__all__ = ["ERROR", "NOT_PICKLE", "PREDICATE_TYPE", "SAFE_PICKLE", "UNSAFE", "FileScan", "ScanResult", "UnpackGate",
           "deny_stored", "policy_gate", "predicate", "refuse_unsafe", "scan_directory", "scan_files", "scan_model",
           "scan_reference", "scan_stream"]
