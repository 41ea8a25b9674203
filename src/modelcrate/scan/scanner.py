"""Scan a directory, a list of unpacked files, or a model in a Target for unsafe pickles; and the gate
unpack and pull -o run on verified files before they are put in place."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .._internal.untrusted_tar import regular_files
from ..content.target import Target
from ..content.verify import drain, verifying
from ..errors import InvalidManifest, ModelcrateError, PolicyViolation
from ..format.descriptor import Descriptor
from ..format.model import ModelFile, ModelView
from ..unpacking import Staged, fetch_model
from .result import ERROR, FileScan, ScanResult, policy_gate
from .sniff import scan_stream


def scan_files(root: Path, relpaths: list[str]) -> ScanResult:
    """Scan the named regular files under ``root`` (symlinks are not followed)."""
    paths = [(rel, root / rel) for rel in sorted(relpaths)]
    return _scan_opened(str(root), [(rel, _opener(p)) for rel, p in paths if p.is_file() and not p.is_symlink()])


def _opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: open(path, "rb")


def _scan_opened(target: str, files: Staged) -> ScanResult:
    """Scan each ``(name to report, opener of its bytes)``."""
    out: list[FileScan] = []
    for rel, open_file in files:
        with open_file() as f:
            out.extend(scan_stream(rel, f))
    return ScanResult(target, tuple(out))


def scan_directory(directory: str | os.PathLike[str]) -> ScanResult:
    """Every regular file below ``directory`` except version-control and cache directories."""
    from ..format.modelfile import SKIPPED_DIRS  # (with the YAML loader: not needed to scan a pull)
    from ..packing import walk

    root = Path(directory)
    if not root.is_dir():
        raise InvalidManifest(f"{root} is not a directory")
    # hidden files are scanned too (a pickle can hide in one); only VCS and cache directories are not.
    # Symlinks out of the directory are refused as pack refuses them.
    return scan_files(root, [f for f in walk(root)
                             if not any(part in SKIPPED_DIRS for part in f.split("/")[:-1])])


def scan_model(target: Target, view: ModelView, name: str, *, verify: bool = False) -> ScanResult:
    """Every layer of the model in ``target``: raw layers as files, tar layers member by member.

    In the local store blobs were verified when stored, and a file that is not a pickle costs a header
    read. With ``verify`` (a registry) every layer is read to its end so its digest is checked: a verdict
    about bytes that were never checked would be worth nothing."""
    out: list[FileScan] = []
    for f in view.files:
        with target.fetch(f.descriptor) as raw:
            stream = verifying(raw, f.descriptor) if verify else raw
            if f.format == "raw":
                found = scan_stream(f.path, stream)
                out.extend(FileScan(s.path, s.format, s.status, s.globals, s.unsafe, s.protocol, s.error,
                                    f.descriptor.digest if s.path == f.path else None) for s in found)
            else:
                out.extend(_tar_layer(f, stream))
            if verify:
                drain(stream)
    return ScanResult(name, tuple(out))


def _tar_layer(f: ModelFile, stream: BinaryIO) -> list[FileScan]:
    """The members of a tar layer, read with unpack's bounds (no sparse files, member and size caps)."""
    out: list[FileScan] = []
    try:
        for name, _member, src in regular_files(stream, "", f.descriptor.size, f.format):
            out.extend(scan_stream(name, src))
    except ModelcrateError as exc:
        out.append(FileScan(f.path or f.descriptor.digest, "tar", ERROR, error=f"unreadable tar layer: {exc}"))
    return out


def scan_reference(target: Target, desc: Descriptor, name: str, *, verify: bool) -> ScanResult:
    """Scan the model ``desc`` names in ``target`` (see :func:`modelcrate.scan.scan_model`)."""
    return scan_model(target, fetch_model(target, desc, metadata=False), name, verify=verify)


@dataclass
class UnpackGate:
    """The ``check`` unpack and pull -o run on verified files before renaming them into place: scans them,
    keeps the result for warnings, and with ``deny`` refuses unsafe pickles (nothing is left behind)."""

    deny: bool = False
    result: ScanResult | None = None

    def __call__(self, staged: Staged) -> None:
        self.result = _scan_opened("unpacked files", staged)
        if self.deny:
            refuse_unsafe(self.result, "nothing was written")


def refuse_unsafe(result: ScanResult, outcome: str) -> None:
    """Raise :class:`PolicyViolation` when ``deny_unsafe_pickle`` refuses ``result``; ``outcome`` says
    what became of the model (for the hint)."""
    reasons = policy_gate(result)
    if reasons:
        raise PolicyViolation("refused by deny_unsafe_pickle: " + "; ".join(reasons)[:600],
                              hint=f"{outcome}; inspect it with `modelcrate scan`")


def deny_stored(target: Target, desc: Descriptor, name: str) -> None:
    """The check a pull into the local store runs before tagging: refuse unsafe pickles in the copied
    model (its blobs were verified as they were stored)."""
    refuse_unsafe(scan_reference(target, desc, name, verify=False), "the model was not tagged")
