"""Find the pickles in a file by its content, not its name, and walk each one.

Recognised: plain pickles of any protocol (legacy ``torch.save`` files hold several), zip archives
(PyTorch's ``archive/data.pkl`` format, ``.npz``) whose pickle and ``.npy`` members are walked, numpy
``.npy`` files with object arrays (their payload is a pickle), and gzip/bz2/xz/zlib-compressed pickles
(joblib's compressed dumps). safetensors, GGUF and anything else that is not a pickle is reported as such.
"""

from __future__ import annotations

import ast
import bz2
import gzip
import io
import lzma
import tempfile
import zipfile
import zlib
from typing import BinaryIO

from ..facts.gguf import MAGIC as GGUF_MAGIC
from ..facts.safetensors import looks_like as looks_like_safetensors
from . import pickles
from .allowlist import is_safe
from .result import ERROR, NOT_PICKLE, SAFE_PICKLE, UNSAFE, FileScan

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".bin", ".dill")
MAX_ZIP_MEMBERS = 100_000
MAX_NPY_HEADER = 64 * 1024
_SPOOL = 16 * 1024 * 1024


def scan_stream(path: str, stream: BinaryIO) -> list[FileScan]:
    """Scan one file's bytes (any readable stream; only zip archives need a seekable one, and are
    spooled when the stream cannot seek). A zip gives one entry per member that holds a pickle."""
    head, stream = peek(stream, 16)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip(path, stream)
    if head.startswith(b"\x93NUMPY"):
        return [_npy(path, stream)]
    inner = _decompressor(head, stream)
    if inner is not None:
        fmt, wrapped = inner
        try:
            inner_head, wrapped = peek(wrapped, 16)
        except (OSError, EOFError, lzma.LZMAError, zlib.error):
            return [FileScan(path, fmt, NOT_PICKLE)]
        if pickles.looks_like_pickle(inner_head):
            return [_pickle(path, wrapped, f"pickle+{fmt}", strict=inner_head[:1] == b"\x80")]
        return [FileScan(path, fmt, NOT_PICKLE)]
    if head[:4] == GGUF_MAGIC:
        return [FileScan(path, "gguf", NOT_PICKLE)]
    if looks_like_safetensors(head):
        return [FileScan(path, "safetensors", NOT_PICKLE)]
    if pickles.looks_like_pickle(head):
        strict = head[:1] == b"\x80" or path.lower().endswith(PICKLE_SUFFIXES)
        return [_pickle(path, stream, "pickle", strict=strict)]
    return [FileScan(path, "other", NOT_PICKLE)]


class _Replay(io.RawIOBase):
    """A stream that cannot seek, with its first bytes put back."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def peek(stream: BinaryIO, n: int) -> tuple[bytes, BinaryIO]:
    """The first ``n`` bytes and a stream that still starts with them. Decompressing streams are
    replayed, not rewound: rewinding them would seek the stream beneath, which may not seek."""
    if pickles.can_seek(stream) and not isinstance(stream, _DECOMPRESSING):
        pos = stream.tell()
        data = stream.read(n)
        stream.seek(pos)
        return data, stream
    data = b""
    while len(data) < n:  # a raw stream (a registry response) may return fewer bytes than asked
        chunk = stream.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data, io.BufferedReader(_Replay(data, stream))  # type: ignore[return-value]


def readable(stream: BinaryIO) -> BinaryIO:
    """A seekable view of ``stream``: itself when it can seek, else a spool (memory, then a temp file)."""
    if pickles.can_seek(stream):
        return stream
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)
    while chunk := stream.read(1 << 20):
        spool.write(chunk)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def _decompressor(head: bytes, stream: BinaryIO) -> tuple[str, BinaryIO] | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip", gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return "bz2", bz2.BZ2File(stream)  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz", lzma.LZMAFile(stream)  # type: ignore[return-value]
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib", io.BufferedReader(_Inflating(stream))  # type: ignore[return-value]
    return None


class _Inflating(io.RawIOBase):
    """A zlib stream, inflated as it is read, at most a megabyte at a time."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self.raw, self.z, self.buf = raw, zlib.decompressobj(), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self.buf and not self.z.eof:
            tail = self.z.unconsumed_tail or self.raw.read(1 << 16)
            if not tail:
                break
            self.buf = self.z.decompress(tail, 1 << 20)
        n = min(len(buffer), len(self.buf))
        buffer[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


_DECOMPRESSING = (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile, _Inflating)


def _pickle(path: str, stream: BinaryIO, fmt: str, *, strict: bool) -> FileScan:
    """Walk every pickle in ``stream``; ``strict`` (a PROTO start or a pickle file name) makes a walk that
    breaks an error, otherwise bytes that do not walk are simply not a pickle."""
    try:
        found, error = pickles.walk_all(stream)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        found, error = pickles.Walk(), f"cannot read the compressed stream: {exc}"
    if error and not strict and not found.globals:
        return FileScan(path, "other", NOT_PICKLE)
    unsafe = tuple([g for g in found.globals if not is_safe(g)] + found.unresolved)
    status = UNSAFE if unsafe else ERROR if error else SAFE_PICKLE
    return FileScan(path, fmt, status, tuple(found.globals), unsafe, found.protocol, error)


def _npy(path: str, stream: BinaryIO, fmt: str = "numpy") -> FileScan:
    """A ``.npy`` header; with an object dtype the rest of the file is a pickle."""
    head = stream.read(8)
    width = 2 if head[6:7] == b"\x01" else 4
    size = stream.read(width)
    if len(head) < 8 or len(size) < width:
        return FileScan(path, fmt, ERROR, error="truncated numpy header")
    length = int.from_bytes(size, "little")
    if length > MAX_NPY_HEADER:
        return FileScan(path, fmt, ERROR, error=f"numpy header claims {length} bytes")
    text = stream.read(length)
    try:
        header = ast.literal_eval(text.decode("latin-1").strip())  # a Python literal: evaluates no code
        descr = header["descr"]
    except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError):
        return FileScan(path, fmt, ERROR, error="malformed numpy header")
    if "O" not in repr(descr):
        return FileScan(path, fmt, NOT_PICKLE)
    return _pickle(path, stream, "numpy-object", strict=True)


def _zip(path: str, stream: BinaryIO) -> list[FileScan]:
    seekable = readable(stream)
    try:
        archive = zipfile.ZipFile(seekable)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        if path.lower().endswith(PICKLE_SUFFIXES):
            return [FileScan(path, "zip", ERROR, error=f"not a readable zip archive: {exc}")]
        return [FileScan(path, "zip", NOT_PICKLE)]
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            return [FileScan(path, "zip", ERROR, error=f"{len(members)} zip members, over {MAX_ZIP_MEMBERS}")]
        torch = any(m.filename.endswith("data.pkl") for m in members)
        out = []
        for m in members:
            if m.is_dir():
                continue
            name = f"{path}:{m.filename}"
            try:
                out.extend(_member(name, archive, m, torch))
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, zlib.error) as exc:
                out.append(FileScan(name, "zip", ERROR, error=f"unreadable zip member: {exc}"))
        if not out:
            out.append(FileScan(path, "torch-zip" if torch else "zip", NOT_PICKLE))
        return out


def _member(name: str, archive: zipfile.ZipFile, m: zipfile.ZipInfo, torch: bool) -> list[FileScan]:
    lower = m.filename.lower()
    with archive.open(m) as f:
        head = f.read(16)
    if lower.endswith((".pkl", ".pickle")):
        with archive.open(m) as f:
            return [_pickle(name, f, "torch-zip" if torch else "pickle", strict=True)]  # type: ignore[arg-type]
    if head.startswith(b"\x93NUMPY"):
        with archive.open(m) as f:
            found = _npy(name, f)  # type: ignore[arg-type]
        return [found] if found.status != NOT_PICKLE else []
    if pickles.looks_like_pickle(head) and head[:1] == b"\x80":
        # tensor storage bytes can begin like a pickle by chance: count a member only if it imports something
        with archive.open(m) as f:
            found = _pickle(name, f, "pickle", strict=False)  # type: ignore[arg-type]
        return [found] if found.globals or found.unsafe else []
    return []
