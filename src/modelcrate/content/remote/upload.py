"""Blob uploads into one repository: cross-repository mount, then a resumable upload.

Measured on the CI machine against registry 2.8.2, 1 GiB: monolithic PUT and 16–64 MiB PATCH chunks all
ran at the registry's own limit, ~110–125 MiB/s, because it hashes the body on receipt and again at
commit; 8 MiB chunks lost 25 %. So a blob goes up as ``POST`` then requests of at most ``chunk_size``
(16 MiB) bytes, ``PATCH`` for all but the last and ``PUT ?digest=`` carrying the last: a blob of up to
16 MiB is a plain monolithic upload.

One existence check per blob. The graph copy asks ``exists`` (HEAD) before it pushes, so the push does
not ask again — oras-go's remote blob ``Push`` never checks ("to minimize the number of out-going
requests"). Our Pusher contract still says pushing present content succeeds without reading it, so the
``POST`` that opens the session carries ``mount=<digest>&from=<this repository>``: a registry that holds
the blob answers 201 and nothing is sent; otherwise it answers 202 with the session we needed anyway.

The request being sent is streamed from the source *and* kept in one reusable buffer, so memory stays
bounded and a failed request is never re-read from the source: after a failure the registry is asked
how much arrived (``GET`` on the upload URL → ``Range``) and only the rest is sent. Registry 2.8.2
ignores ``Content-Range``, so a blind re-send would append the chunk twice; and every answer carries a
new ``Location`` (a signed ``_state`` token) that must be followed.

A blob whose digest is not known yet (a big file of ``push DIR``, see :meth:`Uploader.push_unhashed`) is
hashed as it is read, so its file is read once: one ``PATCH`` streams all but the last chunk through a
small buffer (a failed one is re-sent from the file, not from memory), and the ``PUT`` carrying the last
chunk, read whole first, names the digest of every byte sent; the registry checks it.

Registry 2.8.2 cannot resume an upload whose last request was cut mid-body: it keeps the partial bytes
but the state token the client holds no longer matches, and every request with it (the status GET too)
answers 404 ``BLOB_UPLOAD_INVALID``. Then a blob that fits in the buffer is re-sent on a fresh session;
a larger one fails with :class:`UploadLost`, and the operation layer runs the copy again, which skips
every blob that already arrived.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, urljoin

from ...errors import AuthError, DigestMismatch, ModelcrateError, RegistryError, RegistryNotFound, SizeMismatch
from ...format import digest as _digest
from ...format.descriptor import Descriptor
from .http import BLOCK, RETRY_STATUSES, Response, TransportError, cancelled, retry_after

if TYPE_CHECKING:
    from .locations import BlobLocations, UploadSessions
    from .repository import RegistryTarget

_SESSION_GONE = ("BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN")


class UploadLost(TransportError):
    """The registry dropped an interrupted upload session and cannot say how much of it arrived."""

    hint = "run the command again: blobs that finished uploading are not sent again"


class BufferPool:
    """``count`` reusable buffers of ``size`` bytes, made on first need: memory never exceeds
    ``count * size`` however many transfers share the pool."""

    def __init__(self, count: int, size: int) -> None:
        self.size = size
        self._free: queue.LifoQueue[bytearray] = queue.LifoQueue()
        self._made = 0
        self._count = count
        self._lock = threading.Lock()

    def get(self, timeout: float | None = None) -> bytearray | None:
        """A free buffer, waiting up to ``timeout`` seconds (None: as long as it takes) or None."""
        with self._lock:
            make = self._made < self._count and self._free.empty()
            if make:
                self._made += 1
        if make:
            return bytearray(self.size)
        try:
            return self._free.get(timeout=timeout)
        except queue.Empty:
            return None

    def put(self, buf: bytearray) -> None:
        self._free.put(buf)

    @contextlib.contextmanager
    def take(self) -> Iterator[memoryview]:
        buf = self.get()
        assert buf is not None
        try:
            yield memoryview(buf)
        finally:
            self.put(buf)


def range_end(value: str | None) -> int | None:
    """Bytes held according to an upload ``Range: 0-N`` header: ``N + 1`` (registry 2.8.2 sends ``0-0`` for
    both 0 and 1 byte; callers that can tell the two apart handle that case themselves)."""
    if not value:
        return None
    text = value.strip().removeprefix("bytes=")
    first, sep, last = text.partition("-")
    if not sep or not first.isdigit() or not last.isdigit():
        return None
    return int(last) + 1


class Uploader:
    """Mounts and uploads blobs into one repository (``target``)."""

    def __init__(self, target: RegistryTarget) -> None:
        self.target = target
        self._pending: dict[str, tuple[str, int]] = {}  # digest → (upload URL, bytes the registry holds)
        self._lock = threading.Lock()
        target.client.sessions.add(self)

    @property
    def _locations(self) -> BlobLocations:
        return self.target.client.locations

    def begin(self, desc: Descriptor, mount_from: str | None = None) -> str:
        """Get ``desc`` into this repository without its bytes where the registry allows it: ``"present"``
        (it holds the blob already), ``"mounted"`` (linked from another repository of the registry), or
        ``"upload"`` (a session is open for :meth:`push`). Repositories tried: ``mount_from``, then those the
        blob was seen in (:mod:`.locations`); with none known, one ``POST`` with ``from=`` this repository
        answers "present" or opens the session."""
        own = self.target.repository
        if self._resume_saved(desc):
            return "upload"
        if own in self._locations.holders(desc.digest):
            sources = []  # seen here before: ask here first
        else:
            sources = [r for r in dict.fromkeys([mount_from, *self._locations.candidates(desc.digest, own)])
                       if r and r != own]
        for source in sources:
            state = self._mount_from(desc, source)
            if state != "refused":
                return state
        location = self._session(self._post_mount(desc, own, self.target.scopes), desc, own, or_start=True)
        if location is None:
            self._locations.record(desc.digest, own)
            return "present"
        self._keep(desc, location)
        return "upload"

    def _mount_from(self, desc: Descriptor, source: str) -> str:
        """One mount attempt: "mounted", "upload" (refused, but the session it opened is kept) or
        "refused" (no access to ``source``: try the next)."""
        scopes = (*self.target.scopes, f"repository:{source}:pull")
        try:
            resp = self._post_mount(desc, source, scopes)
            location = self._session(resp, desc, source, or_start=False)
        except (AuthError, RegistryNotFound):
            self._locations.forget(desc.digest, source)
            return "refused"
        if location is None:
            self._locations.record(desc.digest, self.target.repository)
            return "mounted"
        self._locations.forget(desc.digest, source)
        if self.target.exists(desc):  # a stale hint: it may still be here already
            self._delete(location)
            return "present"
        self._keep(desc, location)
        return "upload"

    def _keep(self, desc: Descriptor, location: str, offset: int = 0) -> None:
        with self._lock:
            old = self._pending.pop(desc.digest, None)
            self._pending[desc.digest] = (location, offset)
        if old is not None:
            self._delete(old[0])

    def _resume_saved(self, desc: Descriptor) -> bool:
        """Take up the session an earlier run left open for ``desc`` (see :mod:`.locations`) from the
        offset the registry reports."""
        saved = self._saved_session(desc, desc.digest)
        if saved is None:
            return False
        self._keep(desc, *saved)
        return True

    def _saved_session(self, desc: Descriptor, key: str) -> tuple[str, int] | None:
        """(upload URL, bytes held) of the session an earlier run saved under ``key``; a session the
        registry no longer honours is cancelled and forgotten."""
        saved = self._sessions.get(self.target.repository, key)
        if saved is None:
            return None
        try:
            status = self.status(desc, saved)
        except ModelcrateError:  # UploadLost (the registry forgot it or cannot resume it) or no answer
            status = None
        if status is None or status[1] is None:
            self._forget_session(key, saved)
            return None
        return status[0], status[1]

    def _forget_session(self, key: str, location: str) -> None:
        self._sessions.drop(self.target.repository, key)
        self._delete(location)

    @property
    def _sessions(self) -> UploadSessions:
        return self.target.client.upload_sessions

    def mount(self, desc: Descriptor, from_repository: str) -> bool:
        """Cross-repository mount: True when the registry linked the blob (201). On 202 the registry opened
        an upload session instead; it is kept for the upload that follows, and False says "copy it"."""
        if from_repository == self.target.repository:
            return False
        return self._mount_from(desc, from_repository) in ("mounted", "present")

    def push(self, desc: Descriptor, reader: BinaryIO) -> None:
        """Upload ``reader`` (a verifying stream of ``desc``) unless the registry holds the blob already."""
        with self._lock:
            pending = self._pending.pop(desc.digest, None)
        if pending is None and self._resume_saved(desc):
            with self._lock:
                pending = self._pending.pop(desc.digest, None)
        if pending is None:
            own = self.target.repository
            location = self._session(self._post_mount(desc, own, self.target.scopes), desc, own, or_start=True)
            if location is None:
                self._locations.record(desc.digest, own)
                return  # the registry holds it: the stream is not read
            pending = (location, 0)
        location, offset = pending
        if offset:
            _skip_source(reader, offset, desc)  # still read: the verifying reader hashes every byte
        with self._buffer(desc.size) as buf:
            self._upload_with(desc, reader, location, buf, offset)
        self._locations.record(desc.digest, self.target.repository)

    @contextlib.contextmanager
    def _buffer(self, size: int) -> Iterator[memoryview]:
        """The request buffer for a blob of ``size`` bytes: its own for a small one, else one of the pool's."""
        chunk = max(1, min(self.target.client.settings.chunk_size, size))
        if chunk <= BLOCK:
            yield memoryview(bytearray(chunk))
            return
        with self.target.client.buffers.take() as buf:
            yield buf[:chunk]

    def push_unhashed(self, source: BinaryIO, size: int, media_type: str, *, key: str, label: str,
                      seal: Callable[[], None], reread: Callable[[int, memoryview], int]) -> Descriptor:
        """Upload ``size`` bytes of ``source`` (a file) whose digest is not known yet, hashing them as they
        are sent, so the source is read once; return the blob's descriptor.

        Two requests, as a monolithic ``PUT`` is one: a ``PATCH`` streaming all but the last chunk (each
        request boundary drains the pipe; 64 of them cost more than the stream), then the ``PUT`` that
        names the digest, carrying the last chunk read whole. ``seal`` runs once the last byte is read,
        before that ``PUT`` (it raises when the source changed while read). ``reread(position, view)``
        reads the file again where a failed request must be re-sent. ``key`` names this version of the
        source between runs: an interrupted upload resumes from what the registry holds when the same
        key comes again. ``label`` names the source in messages."""
        hashing = _Hashing(source)
        pending = Descriptor(media_type, label, size)  # the digest field holds the label until the end
        saved = self._saved_session(pending, key)
        if saved is not None and saved[1] > size:  # not this source's upload after all
            self._forget_session(key, saved[0])
            saved = None
        location, offset = saved or (self._start(), 0)
        if offset:
            _skip_source(hashing, offset, pending)  # hashed, not sent: the registry holds these bytes

        def sealed() -> Descriptor:
            seal()
            return Descriptor(media_type, hashing.digest(), size)

        own = self.target.repository
        with self._buffer(size) as buf:
            streamed = size - offset - min(len(buf), size - offset)
            if streamed:
                self._sessions.save(own, key, location)
                patch = _Streamed(self, pending, hashing, buf[:BLOCK], offset, streamed, reread)
                try:
                    location = patch.send(location) or location
                except UploadLost:
                    self._forget_session(key, location)
                    raise
                offset += streamed
                self._sessions.save(own, key, location)
            desc = self._upload_with(pending, hashing, location, buf, offset, key=key, seal=sealed)
        self._sessions.drop(own, key)
        self._locations.record(desc.digest, own)
        return desc

    def abandon(self) -> None:
        """Cancel the sessions opened for uploads that never came (``DELETE``; the registry would keep
        them until its purge runs)."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for location, _offset in pending:
            self._delete(location)

    def _delete(self, location: str) -> None:
        with contextlib.suppress(ModelcrateError):
            with self.target.request("DELETE", location, idempotent=True) as resp:
                resp.drain()

    # ---- sessions -----------------------------------------------------------------------------------
    def _post_mount(self, desc: Descriptor, from_repository: str, scopes: tuple[str, ...]) -> Response:
        url = self.target.url("blobs", f"uploads/?mount={quote(desc.digest)}&from={quote(from_repository, safe='/')}")
        return self.target.request("POST", url, scopes=scopes, idempotent=True)

    def _session(self, resp: Response, desc: Descriptor, from_repository: str, *, or_start: bool) -> str | None:
        """The answer to a mount ``POST``: None when the registry linked the blob (201), else the upload
        URL of the session it opened instead (202). With ``or_start``, a registry that refuses the mount
        parameters (a 4xx other than an auth failure or rate limit) gets a plain session ``POST``."""
        with resp:
            if resp.status == 201:
                said = resp.header("Docker-Content-Digest")
                resp.drain()
                if said and said != desc.digest:
                    raise DigestMismatch(f"{self.target.name} linked {said} when asked to mount {desc.digest}")
                return None
            if resp.status == 202 and resp.header("Location"):
                resp.drain()
                return urljoin(resp.url, resp.header("Location") or "")
            refused = or_start and 400 <= resp.status < 500 and resp.status not in (401, 403, 429)
            if not refused:
                raise self.target.client.error(resp, f"mount {desc.digest} from {from_repository} into "
                                                     f"{self.target.name}")
            resp.drain()
        return self._start()

    def _start(self) -> str:
        url = self.target.url("blobs", "uploads/")
        with self.target.request("POST", url, idempotent=True) as resp:
            location = resp.header("Location")
            if resp.status != 202 or not location:
                raise self.target.client.error(resp, f"start an upload to {self.target.name}")
            resp.drain()
        return urljoin(url, location)

    def _upload_with(self, desc: Descriptor, reader: BinaryIO, location: str, buf: memoryview,
                     offset: int = 0, *, key: str | None = None,
                     seal: Callable[[], Descriptor] | None = None) -> Descriptor:
        """Send the blob from ``offset`` in requests of ``len(buf)`` bytes; return its descriptor. A session
        that takes more than one request is remembered under ``key`` (default: the digest) after each
        answer (:class:`~.locations.UploadSessions`), so a later run can resume it; it is forgotten once
        the blob is complete, and cancelled once it is lost. With ``seal``, the digest is learnt from it
        once the last chunk has been read whole, before that chunk is sent."""
        chunk = len(buf)
        own = self.target.repository
        key = key or desc.digest
        remember = desc.size - offset > chunk
        if remember:
            self._sessions.save(own, key, location)
        while True:
            part = buf[: min(chunk, desc.size - offset)]
            final = offset + len(part) == desc.size
            have = 0
            if final and seal is not None:
                have = _fill(reader, part, desc, offset)
                try:
                    desc = seal()
                except BaseException:  # the source changed: what the registry holds is of no use
                    self._forget_session(key, location)
                    raise
            request = _Part(self, desc, reader, part, offset, final, have)
            try:
                next_location = request.send(location)
            except UploadLost:
                self._forget_session(key, location)
                if offset or not final:
                    raise
                # The whole blob fits in the buffer: send it again on a fresh session; what was read from
                # the source is not read again.
                again = _Part(self, desc, reader, part, 0, True, have=request.filled)
                next_location = again.send(self._start())
            if final or next_location is None:
                if remember:
                    self._sessions.drop(own, key)
                return desc
            location = next_location
            offset += len(part)
            if remember:
                self._sessions.save(own, key, location)

    def status(self, desc: Descriptor, location: str) -> tuple[str, int | None] | None:
        """(upload URL, bytes held) from one ``GET`` on the upload URL; None if the blob is complete.
        A failed or busy answer raises TransportError: the caller counts it and asks again."""
        with self.target.request("GET", location, idempotent=False) as resp:
            if resp.status == 204 or resp.status == 202:
                value = (resp.header("Range") or "").strip()
                holds = None if value in ("0-0", "bytes=0-0") else (range_end(value) or 0)
                new = urljoin(location, resp.header("Location") or location)
                resp.drain()
                return new, holds
            if resp.status in RETRY_STATUSES:
                resp.drain()
                raise TransportError(f"{self.target.name} answered {resp.status} when asked about an upload")
            if resp.status != 404:
                raise self.target.client.error(resp, f"ask {self.target.name} about the upload of {desc.digest}")
            resp.drain()
        self.lost(desc)
        return None

    def lost(self, desc: Descriptor) -> None:
        """The session is gone: done if the blob arrived anyway, else :class:`UploadLost` (always, for a
        blob whose digest is not known yet)."""
        if _digest.is_digest(desc.digest) and self.target.exists(desc):
            return
        raise UploadLost(f"the upload of {desc.digest} to {self.target.name} broke off and the registry cannot "
                         "say how much of it arrived (registry 2.8.2 does this when a request is cut mid-body)")


def _skip_source(reader: BinaryIO, count: int, desc: Descriptor) -> None:
    """Read (and so hash) the first ``count`` bytes of the source, which the registry holds already."""
    scratch = memoryview(bytearray(min(BLOCK, count)))
    while count:
        n = reader.readinto(scratch[: min(len(scratch), count)])  # type: ignore[attr-defined]
        if not n:
            raise SizeMismatch(f"{desc.digest}: the source ended before the {count} bytes the registry holds")
        count -= n


def _fill(reader: BinaryIO, part: memoryview, desc: Descriptor, offset: int) -> int:
    """Read ``part`` whole from the source; its length."""
    filled = 0
    while filled < len(part):
        n = reader.readinto(part[filled: filled + BLOCK])  # type: ignore[attr-defined]
        if not n:
            raise SizeMismatch(f"{desc.digest}: the source ended after {offset + filled} of {desc.size} bytes")
        filled += n
    return filled


class _Hashing(io.RawIOBase):
    """Hashes every byte read through it (the digest of a source nobody has hashed yet)."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._hash = _digest.hasher()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        n = self._stream.readinto(buffer) or 0  # type: ignore[attr-defined]
        if n:
            self._hash.update(memoryview(buffer)[:n])
        return n

    def digest(self) -> str:
        return f"sha256:{self._hash.hexdigest()}"


class _Part:
    """One request of an upload: bytes ``offset``… of the blob, read from ``reader`` as they are sent and
    kept in ``part``; a PATCH, or the completing PUT when ``final``. ``have`` bytes of ``part`` are already
    filled. After a failure the registry is asked how much arrived and only the rest is sent."""

    def __init__(self, uploader: Uploader, desc: Descriptor, reader: BinaryIO, part: memoryview, offset: int,
                 final: bool, have: int = 0) -> None:
        self.uploader, self.desc, self.reader, self.part = uploader, desc, reader, part
        self.offset, self.final = offset, final
        self.filled = have  # bytes of part read from the source so far
        self.start = 0      # bytes of part the registry holds
        self.length = len(part)  # bytes this request carries
        self.name = uploader.target.name

    def body(self, send: Any) -> None:
        """The request body writer: the part from ``start``, reading the source only past ``filled``."""
        part, stats = self.part, self.uploader.target.client.stats
        pos = self.start
        while pos < len(part):
            if pos >= self.filled:
                n = self.reader.readinto(part[self.filled: min(len(part), self.filled + BLOCK)])  # type: ignore[attr-defined]
                if not n:
                    raise SizeMismatch(f"{self.desc.digest}: the source ended after {self.offset + self.filled} "
                                       f"of {self.desc.size} bytes")
                self.filled += n
            end = min(self.filled, pos + BLOCK)
            send(part[pos:end])
            stats.add(uploaded=end - pos)
            pos = end

    def send(self, location: str) -> str | None:
        """Send the part to ``location``; return the next upload URL (None when the blob is done)."""
        policy = self.uploader.target.client.settings.retry
        failures = 0
        while True:
            wait: float | None = None
            try:
                resp = self._request(location)
            except UploadLost:
                raise
            except TransportError as exc:
                if cancelled():
                    raise
                error: ModelcrateError = exc
            else:
                with resp:
                    done, answer = self._answered(resp, location)
                    if done:
                        return answer
                    wait = retry_after(resp.headers)
                    error = self.uploader.target.client.error(resp, f"upload {self.desc.digest} to {self.name}")
            failures += 1
            if failures >= policy.attempts:
                raise error
            policy.sleep(policy.delay(failures - 1, wait))
            # Never re-send blindly: ask the registry how much of this upload it holds.
            status, failures = self._ask(location, failures)
            if status is None:
                return None  # the blob is complete: the answer to the last request was lost
            location, holds = status
            if holds is None:  # "Range: 0-0": 0 or 1 byte. Assume nothing new arrived; were that wrong,
                holds = min(self.offset + self.start, 1)  # the final PUT's digest check fails: never silent
            if not self.offset + self.start <= holds <= self.offset + self.filled:
                raise RegistryError(f"upload of {self.desc.digest} to {self.name}: the registry reports {holds} "
                                    f"bytes, but {self.offset + self.filled} were sent", hint="run the command again")
            self.start = holds - self.offset
            if self.start == self.length and not self.final:
                return location

    def _request(self, location: str) -> Response:
        headers = {"Content-Type": "application/octet-stream"}
        if self.final:
            url = location + ("&" if "?" in location else "?") + "digest=" + quote(self.desc.digest)
            method = "PUT"
        else:
            url, method = location, "PATCH"
            headers["Content-Range"] = f"{self.offset + self.start}-{self.offset + self.length - 1}"
        return self.uploader.target.request(method, url, headers=headers, body=self.body,
                                            length=self.length - self.start)

    def _answered(self, resp: Response, location: str) -> tuple[bool, str | None]:
        """(True, next URL or None) when ``resp`` ends this part; (False, None) when it is worth a retry."""
        if self.final and resp.status in (201, 204):
            said = resp.header("Docker-Content-Digest")
            resp.drain()
            if said and said != self.desc.digest:
                raise DigestMismatch(f"{self.name} stored the upload as {said}, expected {self.desc.digest}")
            return True, None
        if not self.final and resp.status == 202 and resp.header("Location"):
            holds = range_end(resp.header("Range"))
            expect = self.offset + self.length
            resp.drain()
            if holds is not None and holds != expect and not (holds == 1 and expect == 0):
                raise RegistryError(f"upload of {self.desc.digest} to {self.name}: the registry holds {holds} "
                                    f"bytes after a chunk ending at {expect}",
                                    hint="run the command again; the upload starts over")
            return True, urljoin(location, resp.header("Location") or "")
        if resp.status not in RETRY_STATUSES:
            err = self.uploader.target.client.error(resp, f"upload {self.desc.digest} to {self.name}")
            if resp.status == 404 and any(code in err.codes for code in _SESSION_GONE):
                self.uploader.lost(self.desc)  # the session is gone: done if the blob is there
                return True, None
            raise err
        return False, None

    def _ask(self, location: str, failures: int) -> tuple[tuple[str, int | None] | None, int]:
        """The upload's status, asking again after transport failures; and the failure count so far."""
        policy = self.uploader.target.client.settings.retry
        while True:
            try:
                return self.uploader.status(self.desc, location), failures
            except UploadLost:
                raise
            except TransportError:
                failures += 1
                if failures >= policy.attempts:
                    raise
                policy.sleep(policy.delay(failures - 1))


class _Streamed(_Part):
    """A ``PATCH`` of ``length`` bytes from ``offset``, larger than any buffer: streamed from the source
    through ``scratch``, each byte read (and hashed) once as it is first sent. After a failure, the bytes
    the registry lacks but that were read already are read again with ``reread(position, view)`` (the
    source is a file), not kept in memory."""

    def __init__(self, uploader: Uploader, desc: Descriptor, reader: BinaryIO, scratch: memoryview, offset: int,
                 length: int, reread: Callable[[int, memoryview], int]) -> None:
        super().__init__(uploader, desc, reader, scratch, offset, False)
        self.length, self.reread = length, reread

    def body(self, send: Any) -> None:
        stats = self.uploader.target.client.stats
        pos = self.start
        while pos < self.length:
            want = min(len(self.part), self.length - pos)
            if pos < self.filled:
                view = self.part[: min(want, self.filled - pos)]
                n = self.reread(self.offset + pos, view)
            else:
                view = self.part[:want]
                n = self.reader.readinto(view)  # type: ignore[attr-defined]
                self.filled += n or 0
            if not n:
                raise SizeMismatch(f"{self.desc.digest}: the source ended after {self.offset + pos} of "
                                   f"{self.desc.size} bytes")
            send(view[:n])
            stats.add(uploaded=n)
            pos += n
