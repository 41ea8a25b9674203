"""Blob downloads as verifying streams, resumed with ``Range`` after a drop.

Nothing the network returns is trusted: ``Docker-Content-Digest``, ``Content-Length`` and
``Content-Range`` are checked against the descriptor before the body is read, and the body's size and
sha256 are checked as it streams. A dropped download continues with ``Range: bytes=N-`` (the registry
answers 206) instead of starting over.

This is the stream for callers that consume a blob as it comes (tar layers, registry to registry copies);
a blob going into a file is downloaded by segmented.py instead, on more connections where one is slow.
Large blobs read the socket 1 MiB at a time into a ring of four 1 MiB buffers, hashed by a second thread
while the caller writes (measured, 1 GiB in 4 blobs to files, page cache synced between runs: median
758 MiB/s against 545 MiB/s with 256 KiB reads and 539 MiB/s for curl). A timeout or reset inside one
read costs at most that 1 MiB again. Small blobs (configs) are read whole.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from ...errors import DigestMismatch, NotFound, RegistryError, SizeMismatch
from ...format import digest as _digest
from ...format.descriptor import Descriptor
from ..verify import VerifyingReader
from .http import BLOCK, RETRY_STATUSES, Response, TransportError, cancelled

if TYPE_CHECKING:
    from .repository import RegistryTarget

_STREAM_BUFFERS = 4  # BlobStream ring: 4 x BLOCK per download in flight
_READ = BLOCK  # largest single socket read (measured: 1 MiB reads ran 1.4x faster than 256 KiB)


@contextlib.contextmanager
def fetch_blob(target: RegistryTarget, desc: Descriptor) -> Iterator[BinaryIO]:
    """``desc``'s content from ``target`` as a stream that verifies size and digest as it is read."""
    if desc.size <= BLOCK:  # small blobs (configs): read whole, verify as any other stream
        yield VerifyingReader(io.BytesIO(small_blob(target, desc)), desc)  # type: ignore[misc]
        return
    resp = open_blob(target, desc, 0)
    target.client.locations.record(desc.digest, target.repository)  # a mount hint for later pushes
    stream = BlobStream(target, desc, resp)
    try:
        yield stream  # type: ignore[misc]
    finally:
        stream.close()


def small_blob(target: RegistryTarget, desc: Descriptor) -> bytes:
    """A blob of up to ``BLOCK`` bytes, read whole in one request (retried); the caller verifies it."""
    policy = target.client.settings.retry
    for attempt in range(policy.attempts):
        try:
            with open_blob(target, desc, 0) as resp:
                data = resp.read(desc.size)
            target.client.stats.add(downloaded=len(data))
            target.client.locations.record(desc.digest, target.repository)
            return data
        except TransportError:
            if attempt == policy.attempts - 1:
                raise
            policy.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")


def open_blob(target: RegistryTarget, desc: Descriptor, offset: int, *, retry: bool = True,
              end: int | None = None, ranged_only: bool = False) -> Response:
    """GET the blob from ``offset`` (a ``Range`` request when > 0) up to byte ``end`` (exclusive; default
    the end), headers checked. Without ``retry`` one attempt only, and a busy answer raises
    TransportError (the caller is a retry loop itself). A registry that ignores Range (200) is read
    past the ``offset`` bytes, unless ``ranged_only`` (then it raises RegistryError at once)."""
    if end is not None:
        headers = {"Range": f"bytes={offset}-{end - 1}"}
    else:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
    resp = target.request("GET", target.url("blobs", desc.digest), headers=headers, idempotent=retry, follow=True)
    if not retry and resp.status in RETRY_STATUSES:
        resp.drain()
        resp.close()
        raise TransportError(f"{target.name} answered {resp.status} to a download of {desc.digest}")
    try:
        _check_headers(target, desc, offset, resp, desc.size if end is None else end, ranged_only)
    except BaseException:
        resp.close()
        raise
    return resp


def _check_headers(target: RegistryTarget, desc: Descriptor, offset: int, resp: Response, end: int,
                   ranged_only: bool = False) -> None:
    if resp.status == 404:
        raise NotFound(f"blob {desc.digest} is not in {target.name}")
    if resp.status not in (200, 206):
        raise target.client.error(resp, f"fetch blob {desc.digest} from {target.name}")
    said = resp.header("Docker-Content-Digest")
    if said and said != desc.digest:
        raise DigestMismatch(f"{target.name} serves {said} when asked for {desc.digest}")
    length = resp.header("Content-Length")
    expect = end - offset
    if resp.status == 200 and offset and (end != desc.size or ranged_only):  # (at 0: the whole blob)
        raise RegistryError(f"{target.name} stopped honouring Range requests for {desc.digest}")
    if resp.status == 206:
        start = _content_range_start(resp.header("Content-Range"))
        if start != offset:
            raise RegistryError(f"{target.name} answered a request for bytes {offset}- of {desc.digest} "
                                f"with {resp.header('Content-Range')!r}")
    elif offset:  # the registry ignored Range: skip what we already have
        _skip(resp, offset, target)
    if length is not None and length.isdigit() and resp.status == 206 and int(length) != expect:
        raise SizeMismatch(f"{desc.digest}: {target.name} sends {length} bytes from offset {offset}, "
                           f"expected {expect}")
    if length is not None and length.isdigit() and resp.status == 200 and int(length) != desc.size:
        raise SizeMismatch(f"{desc.digest}: {target.name} sends {length} bytes, the descriptor says {desc.size}")


def _content_range_start(value: str | None) -> int | None:
    """``bytes 100-199/200`` → 100."""
    if not value:
        return None
    text = value.strip().removeprefix("bytes").strip()
    first = text.split("-", 1)[0]
    return int(first) if first.isdigit() else None


def _skip(resp: Response, count: int, target: RegistryTarget) -> None:
    buf = memoryview(bytearray(min(BLOCK, max(count, 1))))
    while count:
        n = resp.readinto(buf[: min(len(buf), count)])
        if not n:
            raise TransportError(f"{target.client.registry} closed the connection while resuming a download")
        count -= n


class BlobStream(io.RawIOBase):
    """A blob download as a verifying stream (``verifies == desc``), resumed with ``Range`` after a drop.

    Two helper threads overlap the work over a ring of ``_STREAM_BUFFERS`` x 1 MiB buffers: one reads the
    socket (``readinto``, no copies), one hashes; the caller's thread copies hashed data out and typically
    writes it to a file. ``socket.recv_into``, ``hashlib`` and ``os.write`` all release the GIL, so the three
    run in parallel. The caller never sees bytes before they were hashed, and the read that would return
    the last bytes raises :class:`DigestMismatch` instead when the digest is wrong. A dropped connection,
    a short body or a stall longer than the read timeout is retried from the offset already received
    (``Range: bytes=N-``, 206), with the client's retry policy; hashing simply continues.
    """

    _END = object()
    _RING = _STREAM_BUFFERS

    def __init__(self, target: RegistryTarget, desc: Descriptor, resp: Response) -> None:
        super().__init__()
        self.desc = self.verifies = desc
        self._target = target
        self._resp: Response | None = resp
        self._free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
        self._hashq: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ready: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(self._RING):
            self._free.put(bytearray(BLOCK))
        self._stop = threading.Event()
        self._cur: memoryview | None = None
        self._cur_buf: bytearray | None = None
        self._pos = 0
        self.delivered = 0
        self._error: BaseException | None = None
        self._threads = [threading.Thread(target=self._produce, name="modelcrate-download", daemon=True),
                         threading.Thread(target=self._hash, name="modelcrate-hash", daemon=True)]
        for t in self._threads:
            t.start()

    def readable(self) -> bool:
        return True

    # ---- helper threads -------------------------------------------------------------------------------
    def _produce(self) -> None:
        try:
            self._fill()
        except BaseException as exc:  # handed to the reader's thread
            self._hashq.put(exc)
        else:
            self._hashq.put(self._END if not self._stop.is_set() else TransportError("download stopped"))

    def _fill(self) -> None:
        size, policy = self.desc.size, self._target.client.settings.retry
        stats = self._target.client.stats
        offset = 0
        failures = 0
        while offset < size:
            buf = self._free.get()
            if buf is None or self._stop.is_set():
                return
            view = memoryview(buf)[: min(len(buf), size - offset)]
            filled = 0
            while filled < len(view):
                resp = self._resp
                try:
                    if resp is None:
                        raise TransportError("reconnecting")
                    # At most _READ bytes per call: a timeout or reset inside one call loses its bytes.
                    n = resp.readinto(view[filled: filled + _READ])
                    if not n:
                        raise TransportError(f"{self._target.name}: the connection closed after "
                                             f"{offset + filled} of {size} bytes of {self.desc.digest}")
                except TransportError:
                    if self._stop.is_set():
                        return
                    self._drop_response()
                    failures += 1
                    if failures >= policy.attempts or cancelled():
                        raise
                    policy.sleep(policy.delay(failures - 1))
                    if self._stop.is_set():
                        return
                    try:  # continue from the byte reached: Range request, answered 206
                        self._resp = open_blob(self._target, self.desc, offset + filled, retry=False)
                    except TransportError:
                        pass  # counted as a failure on the next pass through the loop
                    continue
                filled += n
                failures = 0
                stats.add(downloaded=n)
            offset += filled
            self._hashq.put((buf, filled))
        resp = self._resp
        if resp is not None and resp.raw.length is None:  # chunked encoding: nothing may follow
            if resp.readinto(memoryview(bytearray(1))):
                raise SizeMismatch(f"{self.desc.digest}: {self._target.name} sent more than the "
                                   f"{size} bytes declared")
        self._drop_response(clean=True)

    def _hash(self) -> None:
        h = _digest.hasher()
        while True:
            item = self._hashq.get()
            if item is self._END:
                self._ready.put(("end", f"sha256:{h.hexdigest()}"))
                return
            if isinstance(item, BaseException):
                self._ready.put(item)
                return
            buf, n = item
            h.update(memoryview(buf)[:n])
            self._ready.put(item)

    def _drop_response(self, clean: bool = False) -> None:
        resp, self._resp = self._resp, None
        if resp is not None:
            if not clean:
                resp.abort()
            resp.close()

    # ---- the caller's side ----------------------------------------------------------------------------
    def _next(self) -> Any:
        while True:  # wake now and then: a blocking get() would hold off Ctrl-C in the main thread
            try:
                item = self._ready.get(timeout=0.25)
                break
            except queue.Empty:
                continue
        if isinstance(item, BaseException):
            self._error = item
            raise item
        return item

    def readinto(self, buffer: Any) -> int:
        if self._error is not None:
            raise self._error
        view = memoryview(buffer).cast("B")
        if self._cur is None:
            if self.delivered >= self.desc.size:
                return 0
            buf, n = self._next()
            if self.delivered + n >= self.desc.size:
                _tag, actual = self._next()
                if actual != self.desc.digest:
                    self._error = DigestMismatch(f"content of {self._target.name}@{self.desc.digest} hashes to "
                                                 f"{actual}")
                    raise self._error
            self._cur, self._cur_buf, self._pos = memoryview(buf)[:n], buf, 0
        k = min(len(view), len(self._cur) - self._pos)
        view[:k] = self._cur[self._pos:self._pos + k]
        self._pos += k
        self.delivered += k
        if self._pos == len(self._cur):
            self._recycle(self._cur_buf)
            self._cur = self._cur_buf = None
        return k

    def _recycle(self, buf: bytearray | None) -> None:
        self._free.put(buf)

    def close(self) -> None:
        if self.closed:
            return
        self._stop.set()
        self._free.put(None)
        resp = self._resp
        if resp is not None:
            resp.abort()
        for t in self._threads:
            t.join(timeout=10)
        self._drop_response(clean=self.delivered >= self.desc.size)
        super().close()
