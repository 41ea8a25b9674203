"""Walk a pickle's opcodes and list the globals it would import, without unpickling anything.

The opcode table and argument readers are the standard library's :mod:`pickletools`; this module adds a
symbolic stack so ``STACK_GLOBAL`` operands are resolved however they got there (pushed directly, through
the memo, duplicated), across protocols 0-5. A ``STACK_GLOBAL`` whose operands are not plain strings, and
``EXT*`` codes (the copyreg extension registry), cannot be resolved and are reported as unsafe: the walker
fails closed. Large ``bytes`` payloads are skipped, not read into memory, except short ones that start a
pickle of their own, which are walked too (a pickle handed to ``pickle.loads`` inside a pickle).
"""

from __future__ import annotations

import io
import pickletools
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

MAX_KEPT_STRING = 512  # module and attribute names are short; longer strings are kept as "unknown"
MAX_NESTED_BYTES = 16 * 1024 * 1024
MAX_NESTING = 4
MAX_LINE = 64 * 1024
_CHUNK = 1 << 20

_UNKNOWN = object()

_STRINGS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"}
_BYTES = {"BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"}
_PREFIX = {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT4: 4,
           pickletools.TAKEN_FROM_ARGUMENT4U: 4, pickletools.TAKEN_FROM_ARGUMENT8U: 8}


def can_seek(f: object) -> bool:
    """Whether ``f`` seeks; streams inside a streamed tar raise instead of answering."""
    try:
        return bool(f.seekable())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


class PickleError(Exception):
    """The bytes stop being a well-formed pickle (truncated, unknown opcode, stack underflow)."""


@dataclass
class Walk:
    """What one pickle (and the pickles nested in it) would import."""

    globals: list[str] = field(default_factory=list)  # "module.name", in order of first appearance
    unresolved: list[str] = field(default_factory=list)  # imports that cannot be named statically
    protocol: int = 0
    opcodes: int = 0

    def add(self, name: str) -> None:
        if name not in self.globals:
            self.globals.append(name)


class Source:
    """A bounded reader: ``read(n)`` never allocates more than is there, ``skip(n)`` never stores it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.offset = 0

    def read(self, n: int) -> bytes:
        data = self.f.read(n if n <= _CHUNK else _CHUNK)
        if len(data) < n and data:  # a short read, or more than one chunk wanted
            parts, want = [data], n - len(data)
            while want > 0 and (chunk := self.f.read(min(want, _CHUNK))):
                parts.append(chunk)
                want -= len(chunk)
            data = b"".join(parts)
        self.offset += len(data)
        return data

    def exact(self, n: int, what: str) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise PickleError(f"truncated {what} at offset {self.offset}")
        return data

    def skip(self, n: int, what: str) -> None:
        if n > _CHUNK and can_seek(self.f):
            here = self.f.tell()
            end = self.f.seek(0, 2)
            if end - here < n:
                raise PickleError(f"truncated {what} at offset {self.offset}")
            self.f.seek(here + n)
            self.offset += n
            return
        while n > 0:
            step = min(n, _CHUNK)
            self.exact(step, what)
            n -= step

    def line(self, what: str) -> bytes:
        out = bytearray()
        while len(out) < MAX_LINE:
            b = self.read(1)
            if not b:
                raise PickleError(f"truncated {what} at offset {self.offset}")
            out += b
            if b == b"\n":
                return bytes(out)
        raise PickleError(f"{what} longer than {MAX_LINE} bytes at offset {self.offset}")


# What each opcode does to the walk, worked out once from pickletools' table.
_PLAIN, _MARK_OP, _STRING, _BYTES_OP, _GLOBAL, _STACK_GLOBAL, _EXT, _PROTO, _PUT, _MEMOIZE, _GET, _DUP, _STOP = \
    range(13)
_FIXED = {"uint1": struct.Struct("<B"), "uint2": struct.Struct("<H"), "int4": struct.Struct("<i"),
          "uint4": struct.Struct("<I"), "uint8": struct.Struct("<Q"), "float8": struct.Struct(">d")}


@dataclass(frozen=True)
class _Op:
    info: pickletools.OpcodeInfo
    kind: int
    marked: bool  # pops a MARK frame first
    pops: int  # stack items popped (below the frame, for marked opcodes)
    pushes: int
    fixed: struct.Struct | None  # fast reader for fixed-width arguments


def _classify(op: pickletools.OpcodeInfo) -> _Op:
    name, before = op.name, op.stack_before
    kind = (_MARK_OP if name == "MARK" else _STRING if name in _STRINGS else _BYTES_OP if name in _BYTES
            else _GLOBAL if name in ("GLOBAL", "INST") else _STACK_GLOBAL if name == "STACK_GLOBAL"
            else _EXT if name.startswith("EXT") else _PROTO if name == "PROTO"
            else _PUT if name in ("PUT", "BINPUT", "LONG_BINPUT") else _MEMOIZE if name == "MEMOIZE"
            else _GET if name in ("GET", "BINGET", "LONG_BINGET") else _DUP if name == "DUP"
            else _STOP if name == "STOP" else _PLAIN)
    marked = pickletools.markobject in before
    pops = before.index(pickletools.markobject) if marked else len(before)
    fixed = _FIXED.get(op.arg.name) if op.arg is not None and op.arg.n > 0 else None
    return _Op(op, kind, marked, pops, 0 if kind == _MARK_OP else len(op.stack_after), fixed)


_OPS: list[_Op | None] = [None] * 256
for _info in pickletools.opcodes:
    _OPS[ord(_info.code)] = _classify(_info)


def walk(src: Source, result: Walk | None = None, *, depth: int = 0, first: bytes = b"") -> Walk:
    """Walk one pickle from ``src`` up to its STOP; raise :class:`PickleError` if it is malformed (the
    globals seen so far stay in ``result``). ``first`` is an opcode byte the caller already read (and
    counted in ``src.offset``).

    The stack is one list; ``marks`` holds where each MARK frame starts, as the unpickler's own metastack
    does, so an opcode can never pop below the frame it runs in."""
    out = result if result is not None else Walk()
    stack: list[object] = []
    marks: list[int] = []
    memo: dict[int, object] = {}
    pending = first
    read_byte = src.f.read  # the hot loop: one call per opcode
    while True:
        if pending:
            code, pending = pending, b""
        else:
            code = read_byte(1)
            src.offset += len(code)
        if not code:
            raise PickleError(f"truncated pickle (no STOP) at offset {src.offset}")
        op = _OPS[code[0]]
        if op is None:
            raise PickleError(f"unknown opcode 0x{code[0]:02x} at offset {src.offset - 1}")
        out.opcodes += 1
        arg = _argument(src, op)
        if op.kind == _STOP:
            _pop(stack, marks, 1, op, src)
            return out
        _step(op, arg, stack, marks, memo, out, src, depth)


def _argument(src: Source, op: _Op) -> object:
    a = op.info.arg
    if a is None:
        return None
    if op.fixed is not None:
        return op.fixed.unpack(src.exact(op.fixed.size, op.info.name))[0]
    name = op.info.name
    if a.n == pickletools.UP_TO_NEWLINE:
        raw = src.line(name)
        if op.kind == _GLOBAL:
            raw += src.line(name)
        return _decode(a, raw, name)
    if a.n > 0:
        return _decode(a, src.exact(a.n, name), name)
    width = _PREFIX[a.n]
    length = int.from_bytes(src.exact(width, name), "little", signed=(a.n == pickletools.TAKEN_FROM_ARGUMENT4))
    if length < 0:
        raise PickleError(f"{name} with negative length at offset {src.offset}")
    keep = MAX_KEPT_STRING if op.kind == _STRING else MAX_NESTED_BYTES if op.kind == _BYTES_OP else 1 << 16
    if length > keep:
        src.skip(length, name)
        return _UNKNOWN
    payload = src.exact(length, name)
    if op.kind == _STRING:
        return payload.decode("utf-8", "surrogatepass") if "UNICODE" in name else payload.decode("latin-1")
    return payload if op.kind == _BYTES_OP else None


def _decode(a: pickletools.ArgumentDescriptor, raw: bytes, name: str) -> object:
    try:
        return a.reader(io.BytesIO(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PickleError(f"malformed {name} argument: {exc}") from None


def _pop(stack: list[object], marks: list[int], n: int, op: _Op, src: Source) -> None:
    if len(stack) - n < (marks[-1] if marks else 0):
        raise PickleError(f"{op.info.name} on a stack too short at offset {src.offset}")
    if n:
        del stack[len(stack) - n:]


def _step(op: _Op, arg: object, stack: list[object], marks: list[int], memo: dict[int, object], out: Walk,
          src: Source, depth: int) -> None:
    kind = op.kind
    if kind == _PROTO:
        out.protocol = max(out.protocol, int(arg))  # type: ignore[call-overload]
        return
    if kind in (_PUT, _MEMOIZE, _DUP):
        if len(stack) <= (marks[-1] if marks else 0):
            raise PickleError(f"{op.info.name} on an empty stack at offset {src.offset}")
        if kind == _DUP:
            stack.append(stack[-1])
        else:
            memo[len(memo) if kind == _MEMOIZE else int(arg)] = stack[-1]  # type: ignore[call-overload]
        return
    if kind == _GET:
        if arg not in memo:
            raise PickleError(f"{op.info.name} {arg} of a memo entry never stored, at offset {src.offset}")
        stack.append(memo[arg])  # type: ignore[index]
        return
    if kind == _MARK_OP:
        marks.append(len(stack))
        return
    if kind == _GLOBAL:
        module, _, attr = str(arg).partition(" ")
        out.add(f"{module}.{attr}")
    elif kind == _STACK_GLOBAL:
        attr = stack[-1] if len(stack) > 0 else None
        module = stack[-2] if len(stack) > 1 else None
        if isinstance(attr, str) and isinstance(module, str):
            out.add(f"{module}.{attr}")
        else:
            out.unresolved.append(f"STACK_GLOBAL at offset {src.offset - 1} with computed operands")
    elif kind == _EXT:
        out.unresolved.append(f"{op.info.name} {arg} (copyreg extension registry) at offset {src.offset - 1}")
    elif kind == _BYTES_OP and isinstance(arg, bytes) and depth < MAX_NESTING and _starts_pickle(arg):
        try:
            walk(Source(io.BytesIO(arg)), out, depth=depth + 1)
        except PickleError:
            pass  # bytes that only look like a pickle prefix; whatever they named is already recorded
    if op.marked:
        if not marks:
            raise PickleError(f"{op.info.name} without a MARK at offset {src.offset}")
        del stack[marks.pop():]
    _pop(stack, marks, op.pops, op, src)
    if kind == _STRING:
        stack.append(arg if isinstance(arg, str) else _UNKNOWN)
    elif op.pushes:
        stack.extend([_UNKNOWN] * op.pushes)


def _starts_pickle(data: bytes) -> bool:
    return len(data) >= 4 and data[0] == 0x80 and data[1] <= 5 and data[-1:] == b"."


def looks_like_pickle(head: bytes) -> bool:
    """A protocol 2+ pickle starts with PROTO; protocols 0 and 1 with one of a few opcodes."""
    if len(head) >= 2 and head[0] == 0x80:
        return 2 <= head[1] <= 5
    return bool(head) and head[:1] in (b"(", b"]", b"}", b"c", b"N", b"I", b"S", b"V", b"X", b"U", b"K", b"J",
                                       b"G", b"F", b"L", b")", b"l", b"d", b"t", b"i", b"\x8c", b"C", b"B")


def walk_all(f: BinaryIO) -> tuple[Walk, str | None]:
    """Every pickle in ``f`` one after another (legacy ``torch.save`` writes several, then raw storage
    bytes): the first must be well formed; later ones count when they start with PROTO, or when they
    walk cleanly to a STOP. Returns the walk and the error that ended the first pickle, if any."""
    src = Source(f)
    out = Walk()
    try:
        walk(src, out)
    except PickleError as exc:
        return out, str(exc)
    while True:
        first = src.read(1)
        if not first:
            return out, None
        trial = Walk()
        try:
            walk(src, trial, first=first)
        except PickleError:
            if first == b"\x80":  # a pickle that started and broke still ran what it imported so far
                _merge(out, trial)
            return out, None
        _merge(out, trial)


def _merge(out: Walk, other: Walk) -> None:
    for g in other.globals:
        out.add(g)
    out.unresolved.extend(other.unresolved)
    out.protocol = max(out.protocol, other.protocol)
    out.opcodes += other.opcodes
