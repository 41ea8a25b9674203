"""Read a tar layer from an untrusted artifact: regular files below one path, nothing that expands.

The profile's writer (spec/format.md, "Tar layers") emits pax-format regular files and nothing else, so
a reader can be strict without losing a real model. Refused before a byte of the member is written:

* sparse members (GNU type ``S``, or pax ``GNU.sparse.*`` records): CPython's ``tarfile`` presents them
  as regular files and expands the holes, so a 10 KiB layer could write a terabyte;
* links, devices, FIFOs, and names outside the layer's own path (see :func:`safe_relpath`);
* extended headers (pax, GNU long names) over :data:`MAX_HEADER_BYTES`, which ``tarfile`` would read into
  memory whole;
* more than :data:`MAX_MEMBERS` members, or members whose sizes add up to more than the layer itself
  holds (a plain tar cannot hold more file bytes than its own size) or :data:`MAX_EXPANDED_BYTES`.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import InvalidManifest, UnsafePath
from .paths import safe_relpath

MAX_MEMBERS = 100_000
MAX_HEADER_BYTES = 1024 * 1024  # one pax or GNU long-name header; our writer needs a few KiB at most
MAX_EXPANDED_BYTES = 1 << 40  # 1 TiB of file bytes in one layer, whatever the layer claims

_EXTENSION_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                    tarfile.GNUTYPE_LONGLINK)


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses sparse headers and oversized extension headers before ``tarfile`` acts on them."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise UnsafePath(f"tar layer holds a sparse member {self.name[:200]!r}; sparse files are refused")
        if self.type in _EXTENSION_TYPES and self.size > MAX_HEADER_BYTES:
            raise InvalidManifest(f"tar layer has a {self.size}-byte extended header, over the "
                                  f"{MAX_HEADER_BYTES}-byte limit")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


def _is_sparse(member: tarfile.TarInfo) -> bool:
    return member.sparse is not None or any(k.startswith("GNU.sparse.") for k in member.pax_headers)


def regular_files(reader: BinaryIO, layer_path: str, layer_size: int) -> Iterator[tuple[str, tarfile.TarInfo, BinaryIO]]:
    """``(relative path, member, data)`` for each regular file of the tar read from ``reader``.

    ``layer_path`` is the layer's own (already checked) path: every member must be it or below it.
    ``layer_size`` is the layer's verified size, which bounds the member bytes. Directories are skipped;
    anything else is refused with a one-line :class:`UnsafePath` or :class:`InvalidManifest`."""
    budget = min(layer_size, MAX_EXPANDED_BYTES)
    total = count = 0
    try:
        with tarfile.open(fileobj=reader, mode="r|", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                count += 1
                if count > MAX_MEMBERS:
                    raise InvalidManifest(f"tar layer {layer_path!r} has more than {MAX_MEMBERS} members")
                name = safe_relpath(member.name)
                if name != layer_path and not name.startswith(layer_path + "/"):
                    raise UnsafePath(f"tar layer {layer_path!r} holds {name!r}, outside its own path")
                if _is_sparse(member):
                    raise UnsafePath(f"tar layer holds a sparse member {name!r}; sparse files are refused")
                if member.isdir():
                    continue
                if not member.isreg():
                    raise UnsafePath(f"tar layer holds {name!r}, a link or special file; only regular files are allowed")
                total += member.size
                if total > budget:
                    raise InvalidManifest(f"tar layer {layer_path!r} is malformed: its members declare {total} or more "
                                          f"bytes, more than the layer's {budget}")
                data = tar.extractfile(member)
                assert data is not None  # regular members always have data
                yield name, member, data  # type: ignore[misc]
    except tarfile.TarError as exc:
        raise InvalidManifest(f"tar layer is malformed: {str(exc)[:200]}") from None
