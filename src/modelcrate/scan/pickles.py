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
from dataclasses import dataclass, field
from typing import BinaryIO

MAX_KEPT_STRING = 512  # module and attribute names are short; longer strings are kept as "unknown"
MAX_NESTED_BYTES = 16 * 1024 * 1024
MAX_NESTING = 4
MAX_LINE = 64 * 1024
_CHUNK = 1 << 20

_MARK = object()
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
        parts, want = [], n
        while want > 0:
            chunk = self.f.read(min(want, _CHUNK))
            if not chunk:
                break
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


def walk(src: Source, result: Walk | None = None, *, depth: int = 0, first: bytes = b"") -> Walk:
    """Walk one pickle from ``src`` up to its STOP; raise :class:`PickleError` if it is malformed (the
    globals seen so far stay in ``result``). ``first`` is an opcode byte the caller already read."""
    out = result if result is not None else Walk()
    stack: list[object] = []
    memo: dict[int, object] = {}
    pending = first
    while True:
        code = pending or src.read(1)
        pending = b""
        if not code:
            raise PickleError(f"truncated pickle (no STOP) at offset {src.offset}")
        op = pickletools.code2op.get(code.decode("latin-1"))
        if op is None:
            raise PickleError(f"unknown opcode 0x{code[0]:02x} at offset {src.offset - 1}")
        out.opcodes += 1
        arg = _argument(src, op)
        if op.name == "STOP":
            _pop(stack, 1, op.name, src)
            return out
        _step(op, arg, stack, memo, out, src, depth)


def _argument(src: Source, op: pickletools.OpcodeInfo) -> object:
    a = op.arg
    if a is None:
        return None
    if a.n == pickletools.UP_TO_NEWLINE:
        raw = src.line(op.name)
        if op.name in ("GLOBAL", "INST"):
            raw += src.line(op.name)
        return _decode(a, raw, op.name)
    if a.n > 0:
        return _decode(a, src.exact(a.n, op.name), op.name)
    width = _PREFIX[a.n]
    length = int.from_bytes(src.exact(width, op.name), "little", signed=(a.n == pickletools.TAKEN_FROM_ARGUMENT4))
    if length < 0:
        raise PickleError(f"{op.name} with negative length at offset {src.offset}")
    keep = MAX_KEPT_STRING if op.name in _STRINGS else MAX_NESTED_BYTES if op.name in _BYTES else 1 << 16
    if length > keep:
        src.skip(length, op.name)
        return _UNKNOWN
    payload = src.exact(length, op.name)
    if op.name in ("LONG1", "LONG4"):
        return None
    if op.name in _STRINGS:
        return payload.decode("utf-8", "surrogatepass") if "UNICODE" in op.name else payload.decode("latin-1")
    return payload


def _decode(a: pickletools.ArgumentDescriptor, raw: bytes, name: str) -> object:
    try:
        return a.reader(io.BytesIO(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PickleError(f"malformed {name} argument: {exc}") from None


def _pop(stack: list[object], n: int, name: str, src: Source) -> list[object]:
    if len(stack) < n:
        raise PickleError(f"{name} on a stack too short at offset {src.offset}")
    taken = stack[len(stack) - n:]
    del stack[len(stack) - n:]
    return taken


def _pop_mark(stack: list[object], name: str, src: Source) -> None:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            del stack[i:]
            return
    raise PickleError(f"{name} without a MARK at offset {src.offset}")


def _step(op: pickletools.OpcodeInfo, arg: object, stack: list[object], memo: dict[int, object], out: Walk,
          src: Source, depth: int) -> None:
    name = op.name
    if name == "PROTO":
        out.protocol = max(out.protocol, int(arg))  # type: ignore[call-overload]
        return
    if name in ("GLOBAL", "INST"):
        module, _, attr = str(arg).partition(" ")
        out.add(f"{module}.{attr}")
    elif name == "STACK_GLOBAL":
        attr, module = (stack[-1] if stack else None), (stack[-2] if len(stack) > 1 else None)
        if isinstance(attr, str) and isinstance(module, str):
            out.add(f"{module}.{attr}")
        else:
            out.unresolved.append(f"STACK_GLOBAL at offset {src.offset - 1} with computed operands")
    elif name.startswith("EXT"):
        out.unresolved.append(f"{name} {arg} (copyreg extension registry) at offset {src.offset - 1}")
    elif name in _BYTES and isinstance(arg, bytes) and depth < MAX_NESTING and _starts_pickle(arg):
        nested = Source(io.BytesIO(arg))
        try:
            walk(nested, out, depth=depth + 1)
        except PickleError:
            pass  # bytes that only look like a pickle prefix; whatever they named is already recorded
    # the stack effect, from pickletools' own table
    before, after = op.stack_before, op.stack_after
    if name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
        if not stack:
            raise PickleError(f"{name} on an empty stack at offset {src.offset}")
        memo[len(memo) if name == "MEMOIZE" else int(arg)] = stack[-1]  # type: ignore[call-overload]
        return
    if name in ("GET", "BINGET", "LONG_BINGET"):
        key = int(arg)  # type: ignore[call-overload]
        if key not in memo:
            raise PickleError(f"{name} {key} of a memo entry never stored, at offset {src.offset}")
        stack.append(memo[key])
        return
    if name == "DUP":
        stack.append(_pop(stack, 1, name, src)[0])
        stack.append(stack[-1])
        return
    if pickletools.markobject in before:
        _pop_mark(stack, name, src)
        _pop(stack, before.index(pickletools.markobject), name, src)
    else:
        _pop(stack, len(before), name, src)
    if name == "MARK":
        stack.append(_MARK)
    elif name in _STRINGS:
        stack.append(arg if isinstance(arg, str) else _UNKNOWN)
    else:
        stack.extend(_UNKNOWN for _ in after)


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
