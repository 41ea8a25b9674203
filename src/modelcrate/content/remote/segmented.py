"""A blob downloaded straight into a file: one stream, or several ``Range`` streams where one is too slow.

Why a file and not a stream: the file is the buffer. Each connection writes what it receives at its own
offset (``pwrite``), so a slow piece never holds up the others, no piece buffers are pooled, and memory is
one 1 MiB read buffer per connection whatever the blob's size. The calling thread hashes the file in order
as its contiguous prefix grows, so every byte is verified — the bytes that are in the file, which are the
ones renamed into place — and a wrong digest raises :class:`DigestMismatch` before the caller can rename.

How many connections: one to begin with (on loopback and fast links one stream is fastest: more only add
CPU on a small machine). When the hasher spends most of its time waiting for bytes that each come slower
than ``_PACED`` — the link, a proxy or an object store paces each connection — it goes to
``download_streams`` streams at once. The first stream keeps one more piece (four ``range_piece``) and the
rest is handed out piece by piece in order, so the pieces finish about in order and the hashed prefix keeps
up: hashing pieces that all finish at the end would add their hashing time after the last byte (measured:
0.1 s of 1.7 s for 256 MiB with four halves). The first piece also finds out whether the registry honours
Range; a registry that answers it with 200 is read as the one stream it offers. When no piece is left, a
stream that finishes early takes the upper half of the largest range still being read.

Resume: ``have`` bytes already in the file (a previous run's partial download) are hashed from the file and
only the rest is requested. On failure :func:`download_to_file` truncates the file to its contiguous
prefix, so the next run resumes from there.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import DigestMismatch, RegistryError
from ..._internal.fsutil import cut_to
from ...format import digest as _digest
from ...format.descriptor import Descriptor
from ..verify import read_all
from .download import open_blob, small_blob
from .http import BLOCK, Response, TransportError, cancelled

if TYPE_CHECKING:
    from .repository import RegistryTarget

_WINDOW = 0.05  # seconds of hashing over which "mostly waiting" is judged
_STARVED = 0.5  # fraction of a window spent waiting for bytes that asks for more streams
# ... but only while each stream is slower than this: a connection that is paced (object stores and CDNs
# cap one stream well below it) rather than one that is merely sharing two cores with the hasher and the
# registry, where more streams only add CPU (measured on loopback: 1 GiB in 1.26 s on one stream, 1.99 s
# when streams were added because the hasher waited).
_PACED = 192 << 20  # bytes per second per stream


@dataclass
class _Range:
    pos: int  # next byte this stream writes
    end: int  # exclusive; lowered when another stream takes the upper half
    asked: int  # where the open request's body ends: read to there, the connection can be reused
    probe: bool = False  # the first split: its answer tells whether the registry honours Range


class _Download:
    def __init__(self, target: RegistryTarget, desc: Descriptor, fd: int, have: int,
                 on_bytes: Callable[[int], None] | None) -> None:
        settings = target.client.settings
        self.target, self.desc, self.fd, self.on_bytes = target, desc, fd, on_bytes
        self.max_streams = max(1, settings.download_streams) if desc.size >= settings.ranged_threshold else 1
        self.min_split = max(BLOCK, settings.range_piece)
        self.piece = 4 * self.min_split  # handed out in order while bytes are left that no stream holds
        self.ranges: list[_Range] = []
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.threads: list[threading.Thread] = []
        self.open: set[Response] = set()  # aborted by close(), so a stalled read ends at once
        self.wanted = 1
        self.ranged: bool | None = None  # whether the registry honours Range; None: not asked yet
        self.have = have
        self.held = desc.size  # the streams' ranges cover [have, held); the pieces after it are unassigned
        self.received = 0  # bytes written by the streams (cond held)

    # ---- streams -----------------------------------------------------------------------------------
    def start(self, first: Response | None, rng: _Range) -> None:  # cond held (or before any thread)
        self.ranges.append(rng)
        self.ranges.sort(key=lambda r: r.pos)
        t = threading.Thread(target=self._stream, args=(rng, first), name="modelcrate-download", daemon=True)
        self.threads.append(t)
        t.start()

    def _stream(self, rng: _Range, resp: Response | None) -> None:
        try:
            if resp is None and rng.probe:
                resp = self._probe(rng)
                if resp is None:
                    return
            self._fill(rng, resp)
        except BaseException as exc:  # the hashing thread raises it
            with self.cond:
                if self.error is None:
                    self.error = exc
                self.stop.set()
                self.cond.notify_all()

    def _fill(self, rng: _Range, resp: Response | None) -> None:
        policy, stats = self.target.client.settings.retry, self.target.client.stats
        buf = memoryview(bytearray(BLOCK))
        failures = 0
        while True:
            with self.cond:
                if rng.pos >= rng.end or self.stop.is_set():
                    break
                want = min(BLOCK, rng.end - rng.pos)
            try:
                if resp is None:
                    resp = self._open(rng)
                n = resp.readinto(buf[:want])
                if not n:
                    raise TransportError(f"{self.target.name}: the connection closed at byte {rng.pos} of "
                                         f"{self.desc.size} of {self.desc.digest}")
            except TransportError:
                if resp is not None:
                    self._forget(resp, clean=False)
                resp = None
                failures += 1
                if self.stop.is_set() or failures >= policy.attempts or cancelled():
                    raise
                policy.sleep(policy.delay(failures - 1))
                continue
            failures = 0
            _pwrite_all(self.fd, buf[:n], rng.pos)
            stats.add(downloaded=n)
            with self.cond:
                rng.pos += n
                self.received += n
                self.cond.notify_all()
        if resp is not None:  # with body bytes left unread, the connection cannot be reused
            self._forget(resp, clean=rng.pos == rng.asked and not self.stop.is_set())
        with self.cond:
            self._balance()

    def _probe(self, rng: _Range) -> Response | None:
        """Open the first split. A registry that does not honour Range (it answers 200, or refuses, or
        cannot be reached for it) gives the range back to the stream below, whose plain GET reads on to
        the end: one stream, as offered."""
        policy = self.target.client.settings.retry
        for attempt in range(policy.attempts):
            try:
                resp = self._open(rng, ranged_only=True)
            except TransportError:
                if self.stop.is_set() or cancelled():
                    raise
                policy.sleep(policy.delay(attempt))
                continue
            except RegistryError:
                break
            with self.cond:
                self.ranged = True
                self._balance()  # Range works: the other streams the hasher asked for start now
            return resp
        with self.cond:
            self.ranged = False
            self.ranges.remove(rng)
            self.held = self.desc.size
            lower = next((r for r in self.ranges if r.end == rng.pos), None)
            if lower is not None and lower.pos < lower.end:
                lower.end = self.held  # its answer runs to the end of the blob (asked == size)
            else:  # it has stopped at the split already: the rest gets a stream of its own
                self.start(None, _Range(rng.pos, self.held, asked=0))
            self.cond.notify_all()
        return None

    def _open(self, rng: _Range, *, ranged_only: bool = False) -> Response:
        with self.cond:
            end = rng.end
        resp = open_blob(self.target, self.desc, rng.pos, retry=False, end=end, ranged_only=ranged_only)
        with self.cond:
            rng.asked = end
            self.open.add(resp)
        return resp

    def _forget(self, resp: Response, *, clean: bool) -> None:
        with self.cond:
            self.open.discard(resp)
        if not clean:
            resp.abort()
        resp.close()

    def _balance(self) -> None:  # cond held
        """Keep ``wanted`` streams busy (one probe first, while it is not known whether the registry
        honours Range)."""
        if self.ranged is False or self.stop.is_set():
            return
        while sum(r.pos < r.end for r in self.ranges) < self.wanted:
            if self.ranged is None and any(r.probe for r in self.ranges):
                return
            rng = self._next_range()
            if rng is None:
                return
            rng.probe = self.ranged is None
            self.start(None, rng)

    def _next_range(self) -> _Range | None:  # cond held
        """The next piece in order (before the first, the stream holding the end of the blob gives up all
        but its next piece); when every piece is held, the upper half of the largest range left."""
        size = self.desc.size
        if self.held == size:
            tail = max(self.ranges, key=lambda r: r.end)
            if tail.end - tail.pos >= 3 * self.piece:
                tail.end = self.held = _aligned(tail.pos + self.piece)
        if self.held < size:
            # Smaller pieces towards the end, so that the streams finish together.
            n = min(self.piece, max(self.min_split, _aligned((size - self.held) // max(1, self.wanted))))
            start, end = self.held, min(size, self.held + n)
            if size - end < self.min_split:
                end = size  # no sliver left for a piece of its own
            self.held = end
            return _Range(start, end, asked=0)
        big = max(self.ranges, key=lambda r: r.end - r.pos)
        left = big.end - big.pos
        if left < 2 * self.min_split:
            return None
        mid = _aligned(big.pos + left // 2)
        upper = _Range(mid, big.end, asked=0)
        big.end = mid
        return upper

    # ---- the calling thread: hash the contiguous prefix, add streams while starved -------------------
    def frontier(self) -> int:  # cond held
        while len(self.ranges) > 1 and self.ranges[0].pos >= self.ranges[0].end:
            del self.ranges[0]  # finished, below every other: a big blob's pieces would make each call slow
        for r in self.ranges:
            if r.pos < r.end:
                return r.pos
        return self.held

    def run(self) -> None:
        size = self.desc.size
        if self.have < size:
            # A plain GET from the start: registry 2.8.2 serves Range answers through a slower copy
            # (1 GiB: 2.0 s against 1.2 s). Resuming asks for the rest: 206 shows Range is honoured, 200
            # that it is not (open_blob then skipped the ``have`` bytes already here).
            first = open_blob(self.target, self.desc, self.have, retry=True)
            if self.have:
                self.ranged = first.status == 206
            with self.cond:
                self.open.add(first)
                self.start(first, _Range(self.have, size, asked=size))
        h = _digest.hasher()
        buf = memoryview(bytearray(BLOCK))
        hashed = 0
        window_start, waited, window_bytes = time.monotonic(), 0.0, 0
        while hashed < size:
            with self.cond:
                while (front := self.frontier()) <= hashed and self.error is None:
                    t0 = time.monotonic()
                    self.cond.wait(0.25)  # wakes now and then so Ctrl-C reaches the main thread
                    waited += time.monotonic() - t0
                if self.error is not None:
                    raise self.error
                now = time.monotonic()
                if now - window_start >= _WINDOW:
                    streams = max(1, sum(r.pos < r.end for r in self.ranges))
                    per_stream = (self.received - window_bytes) / (now - window_start) / streams
                    if (waited / (now - window_start) > _STARVED and per_stream < _PACED
                            and self.wanted < self.max_streams):
                        self.wanted = self.max_streams  # paced: every stream allowed, at once
                        self._balance()
                    window_start, waited, window_bytes = now, 0.0, self.received
            while hashed < front:
                n = os.preadv(self.fd, [buf[: min(BLOCK, front - hashed)]], hashed)
                if not n:
                    raise DigestMismatch(f"{self.desc.digest}: the download file is shorter than it was written")
                h.update(buf[:n])
                hashed += n
                if self.on_bytes is not None:
                    self.on_bytes(n)
        actual = f"sha256:{h.hexdigest()}"
        if actual != self.desc.digest:
            raise DigestMismatch(f"content of {self.target.name}@{self.desc.digest} hashes to {actual}")

    def close(self) -> int:
        """Stop every stream; the contiguous prefix written so far (what a later run can resume from)."""
        self.stop.set()
        with self.cond:
            self.cond.notify_all()
            live = list(self.open)
        for resp in live:
            resp.abort()
        for t in self.threads:
            t.join(timeout=10)
        with self.cond:
            return self.frontier() if self.ranges else self.have


def _aligned(offset: int) -> int:
    return offset // BLOCK * BLOCK


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def download_to_file(target: RegistryTarget, desc: Descriptor, fd: int, *, have: int = 0,
                     on_bytes: Callable[[int], None] | None = None) -> None:
    """Write ``desc``'s bytes into ``fd`` (opened read-write), verified: on return the file holds exactly
    them; on any error the file is cut back to the contiguous prefix written so far (resumable)."""
    if not 0 <= have <= desc.size:
        have = 0
    if desc.size <= BLOCK:  # small: one request, read whole (no helper thread), written once verified
        _small(target, desc, fd, on_bytes)
        return
    try:
        _attempt(target, desc, fd, have, on_bytes)
    except DigestMismatch:
        if not have:
            raise
        # The kept bytes were not the blob's (a run killed mid-write can leave holes): start over once.
        _attempt(target, desc, fd, 0, on_bytes)
    target.client.locations.record(desc.digest, target.repository)  # a mount hint for later pushes


def _small(target: RegistryTarget, desc: Descriptor, fd: int, on_bytes: Callable[[int], None] | None) -> None:
    data = read_all(io.BytesIO(small_blob(target, desc)), desc, BLOCK)  # size and digest checked
    cut_to(fd, 0)
    _pwrite_all(fd, memoryview(data), 0)
    if on_bytes is not None:
        on_bytes(len(data))


def _attempt(target: RegistryTarget, desc: Descriptor, fd: int, have: int,
             on_bytes: Callable[[int], None] | None) -> None:
    cut_to(fd, have)
    job = _Download(target, desc, fd, have, on_bytes)
    try:
        job.run()
    except DigestMismatch:
        job.close()
        cut_to(fd, 0)  # nothing of it is worth keeping
        raise
    except BaseException:
        cut_to(fd, job.close())  # the contiguous prefix: where the next run resumes
        raise
    job.close()
