"""Scan a directory, a list of unpacked files, or a model in a Target for unsafe pickles."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from ..content.target import Target
from ..content.verify import drain, verifying
from ..errors import InvalidManifest
from ..format import modelfile as _modelfile
from ..format.model import ModelFile, ModelView
from ..unpack import decompressed, safe_relpath
from .result import ERROR, FileScan, ScanResult
from .sniff import scan_stream


def scan_files(root: Path, relpaths: list[str]) -> ScanResult:
    """Scan the named files under ``root`` (as unpack or pull -o wrote them)."""
    out: list[FileScan] = []
    for rel in sorted(relpaths):
        path = root / rel
        if path.is_symlink() or not path.is_file():
            continue
        with open(path, "rb") as f:
            out.extend(scan_stream(rel, f))
    return ScanResult(str(root), tuple(out))


def scan_directory(directory: str | os.PathLike[str]) -> ScanResult:
    """Every regular file below ``directory`` except version-control and cache directories."""
    from ..pack import _walk

    root = Path(directory)
    if not root.is_dir():
        raise InvalidManifest(f"{root} is not a directory")
    # hidden files are scanned too (a pickle can hide in one); only VCS and cache directories are not
    return scan_files(root, [f for f in _walk(root)
                             if not any(part in _modelfile.SKIPPED_DIRS for part in f.split("/")[:-1])])


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


def _tar_layer(f: ModelFile, stream: object) -> list[FileScan]:
    out: list[FileScan] = []
    try:
        with tarfile.open(fileobj=decompressed(stream, f.format), mode="r|") as tar:  # type: ignore[arg-type]
            for member in tar:
                if not member.isreg():
                    continue
                src = tar.extractfile(member)
                if src is not None:
                    out.extend(scan_stream(safe_relpath(member.name), src))  # type: ignore[arg-type]
    except (tarfile.TarError, OSError, EOFError) as exc:
        out.append(FileScan(f.path or f.descriptor.digest, "tar", ERROR, error=f"unreadable tar layer: {exc}"))
    return out
