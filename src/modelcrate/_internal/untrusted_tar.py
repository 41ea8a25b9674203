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

Compressed layers (``tar+gzip``, ``tar+zstd``, as KitOps writes them) are decompressed as they are read
and pass the same checks on the tar inside; their member bytes may add up to at most
:data:`MAX_COMPRESSION_RATIO` times the layer's size, deflate's own limit, so a small layer cannot expand
into a disk-filling one.
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import InvalidManifest, UnsafePath
from .paths import safe_relpath

MAX_MEMBERS = 100_000
MAX_HEADER_BYTES = 1024 * 1024  # one pax or GNU long-name header; our writer needs a few KiB at most
MAX_EXPANDED_BYTES = 1 << 40  # 1 TiB of file bytes in one layer, whatever the layer claims
MAX_COMPRESSION_RATIO = 1032  # the most deflate can compress; zstd is held to the same
TAR_FORMATS = ("tar", "tar+gzip", "tar+zstd")

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


def decompressed(reader: BinaryIO, fmt: str) -> BinaryIO:
    """The tar stream inside a ``tar``, ``tar+gzip`` or ``tar+zstd`` layer (zstd needs ``zstandard``);
    a corrupt compressed stream raises :class:`InvalidManifest` from whichever read meets it."""
    if fmt == "tar":
        return reader
    if fmt == "tar+gzip":
        return _Guarded(gzip.GzipFile(fileobj=reader, mode="rb"))  # type: ignore[return-value]
    if fmt == "tar+zstd":
        try:
            import zstandard
        except ImportError:
            raise InvalidManifest("this layer is zstd-compressed: install modelcrate[zstd] to read it") from None
        stream = zstandard.ZstdDecompressor().stream_reader(reader, read_across_frames=True)
        return _Guarded(stream)  # type: ignore[return-value]
    raise InvalidManifest(f"layer format {fmt!r} is not one modelcrate reads (raw, {', '.join(TAR_FORMATS)})")


def _decompression_errors() -> tuple[type[Exception], ...]:
    errors: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile, zlib.error)
    try:
        import zstandard
    except ImportError:
        return errors
    return (*errors, zstandard.ZstdError)


class _Guarded:
    """A decompressing reader whose errors are one :class:`InvalidManifest` line, also when a member's
    data is read outside :func:`regular_files`."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.errors = _decompression_errors()

    def read(self, n: int = -1) -> bytes:
        try:
            return self.stream.read(n)
        except self.errors as exc:
            raise InvalidManifest(f"tar layer is malformed: {str(exc)[:200]}") from None


def regular_files(reader: BinaryIO, layer_path: str, layer_size: int, fmt: str = "tar"
                  ) -> Iterator[tuple[str, tarfile.TarInfo, BinaryIO]]:
    """``(relative path, member, data)`` for each regular file of the tar read from ``reader``.

    ``layer_path`` is the layer's own (already checked) path: every member must be it or below it ("":
    a foreign layer without a path annotation, whose members are only checked one by one).
    ``layer_size`` is the layer's verified size, which bounds the member bytes; ``fmt`` is the layer's
    format (``tar``, ``tar+gzip``, ``tar+zstd``). Directories are skipped; anything else is refused with a
    one-line :class:`UnsafePath` or :class:`InvalidManifest`."""
    ratio = 1 if fmt == "tar" else MAX_COMPRESSION_RATIO
    budget = min(layer_size * ratio, MAX_EXPANDED_BYTES)
    total = count = 0
    shown = repr(layer_path) if layer_path else "without a path"
    try:
        with tarfile.open(fileobj=decompressed(reader, fmt), mode="r|", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                count += 1
                if count > MAX_MEMBERS:
                    raise InvalidManifest(f"tar layer {shown} has more than {MAX_MEMBERS} members")
                name = safe_relpath(member.name)
                if layer_path and name != layer_path and not name.startswith(layer_path + "/"):
                    raise UnsafePath(f"tar layer {layer_path!r} holds {name!r}, outside its own path")
                if _is_sparse(member):
                    raise UnsafePath(f"tar layer holds a sparse member {name!r}; sparse files are refused")
                if member.isdir():
                    continue
                if not member.isreg():
                    raise UnsafePath(f"tar layer holds {name!r}, a link or special file; only regular files are allowed")
                total += member.size
                if total > budget:
                    raise InvalidManifest(f"tar layer {shown} is malformed: its members declare {total} or more "
                                          f"bytes, more than the layer's {budget}")
                data = tar.extractfile(member)
                assert data is not None  # regular members always have data
                yield name, member, data  # type: ignore[misc]
    except (tarfile.TarError, ValueError, OverflowError) as exc:  # tarfile lets int() errors of pax records out
        raise InvalidManifest(f"tar layer is malformed: {' '.join(str(exc).split())[:200]}") from None
