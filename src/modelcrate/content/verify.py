"""Verified reads: no caller can consume content without its size and digest being checked."""

from __future__ import annotations

import io
from typing import BinaryIO

from ..errors import DigestMismatch, InvalidManifest, SizeMismatch
from ..format import digest as _digest
from ..format.descriptor import Descriptor

from .._internal.fsutil import CHUNK


class VerifyingReader(io.RawIOBase):
    """Wrap a stream so reading it to the end proves it is exactly ``desc``.

    Raises :class:`SizeMismatch` on short or trailing data and :class:`DigestMismatch` on wrong bytes,
    at the read that reaches the end. Nothing downstream should keep data until that read returned.
    """

    def __init__(self, stream: BinaryIO, desc: Descriptor) -> None:
        super().__init__()
        self._stream = stream
        self.desc = desc
        self._hash = _digest.hasher()
        self._count = 0
        self.verified = False
        self.verifies = desc  # wrappers that pass this through are recognised by verifying()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        want = min(len(view), self.desc.size - self._count)
        if want <= 0:
            self._check_end()
            return 0
        n = _readinto(self._stream, view[:want])
        if n == 0:
            raise SizeMismatch(
                f"{self.desc.digest}: content ended after {self._count} of {self.desc.size} bytes"
            )
        self._hash.update(view[:n])
        self._count += n
        if self._count == self.desc.size:
            self._check_end()
        return n

    def _check_end(self) -> None:
        if self.verified:
            return
        if _readinto(self._stream, memoryview(bytearray(1))) != 0:
            raise SizeMismatch(f"{self.desc.digest}: content is longer than the {self.desc.size} bytes declared")
        actual = f"sha256:{self._hash.hexdigest()}"
        if actual != self.desc.digest:
            raise DigestMismatch(f"content hashes to {actual}, expected {self.desc.digest}")
        self.verified = True

    @property
    def count(self) -> int:
        return self._count


def _readinto(stream: BinaryIO, view: memoryview) -> int:
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return readinto(view) or 0
    data = stream.read(len(view))
    view[: len(data)] = data
    return len(data)


def verifying(stream: BinaryIO, desc: Descriptor) -> BinaryIO:
    """``stream`` wrapped for ``desc``; a stream already verifying ``desc`` is returned as is, so a copy
    between two stores hashes each byte once."""
    if getattr(stream, "verifies", None) == desc:
        return stream
    return VerifyingReader(stream, desc)  # type: ignore[return-value]


def read_all(stream: BinaryIO, desc: Descriptor, limit: int) -> bytes:
    """Read and verify small content (a manifest, config, bundle) into memory.

    ``desc.size`` is attacker-controlled: refuse before allocating when it exceeds ``limit``.
    """
    if desc.size > limit:
        raise InvalidManifest(f"{desc.digest} is {desc.size} bytes, over the {limit}-byte limit for metadata")
    reader = verifying(stream, desc)
    out = bytearray()
    buf = bytearray(min(CHUNK, max(desc.size, 1)))
    while True:
        n = reader.readinto(buf)
        if not n:
            break
        out += buf[:n]
    return bytes(out)


def drain(reader: BinaryIO, sink: "io.RawIOBase | BinaryIO | None" = None, on_bytes=None) -> int:
    """Copy ``reader`` to ``sink`` (or discard) until EOF, with one reusable buffer; return the byte count.
    The buffer is no bigger than a verifying reader's content: 32 small files in flight hold KiBs, not
    32 x 4 MiB."""
    verifies = getattr(reader, "verifies", None)
    size = getattr(verifies, "size", None)
    buf = bytearray(CHUNK if not isinstance(size, int) else min(CHUNK, max(size, 1) + 1))
    view = memoryview(buf)
    total = 0
    while True:
        n = _readinto(reader, view)
        if not n:
            return total
        if sink is not None:
            sink.write(view[:n])
        total += n
        if on_bytes is not None:
            on_bytes(n)
