"""``push DIR REF`` reads each big file once: it is uploaded while it is hashed, and the manifest, which
names its digest, is built after the blob is in.

Hashing a file first (to build the manifest) and reading it again to upload it cost a whole extra pass
over the file, ~20 % of a 1 GiB push on loopback (benchmarks/transfer.py, "pdir"). So a raw file of at
least :data:`MIN_SIZE` bytes is described in one of three ways, by :meth:`OnePass.describe`:

* its digest is in the stat-keyed cache (:mod:`modelcrate.filedigests`): nothing is read now; the graph
  copy then skips the blob if the registry holds it (an unchanged re-push sends no blob bytes) or uploads
  it through a verifying reader, and a cached digest that proves wrong is forgotten;
* the file changed too recently for a cache entry to be trusted later (see ``RACY_SECONDS``): it is hashed
  first, as small files are, so that the registry can still say "held already" before anything is sent;
* otherwise it is uploaded now, hashed as it goes (:meth:`~modelcrate.content.remote.upload.Uploader.push_unhashed`),
  its stat compared before and after (a file written meanwhile is an error, not a wrong manifest), and
  its digest cached for the next push.

A file of this run already uploaded is not uploaded again in a later round of the same push.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from .errors import DigestMismatch, SizeMismatch, caused_by
from .filedigests import FileDigests, FileKey, check_unchanged
from .format.descriptor import Descriptor
from .format.mediatypes import ANN_FILEPATH

if TYPE_CHECKING:
    from .content.remote.upload import Uploader
    from .packing import Opener

MIN_SIZE = 4 << 20  # a smaller file hashes in milliseconds: reading it twice costs less than a cache look-up


class UploadProgress(Protocol):
    """Hears about a file uploaded as it is hashed: ``start`` under a stand-in descriptor named for the file
    (its digest is not known yet), then ``streamed(stand_in, desc)`` once it is in as ``desc``."""

    def start(self, desc: Descriptor) -> None: ...
    def streamed(self, stand_in: Descriptor, desc: Descriptor) -> None: ...


class OnePass:
    """How ``push DIR`` describes its big files (see the module notes). ``uploads`` None (a destination
    that is not a registry, or a push that must know every digest first) hashes every file first.
    ``report`` wraps a source so that its reads advance ``progress``."""

    min_size = MIN_SIZE

    def __init__(self, uploads: Uploader | None, digests: FileDigests, progress: UploadProgress,
                 report: Callable[[BinaryIO, Descriptor], BinaryIO]) -> None:
        self.uploads, self.digests, self.progress, self.report = uploads, digests, progress, report
        self._done: dict[Path, tuple[FileKey, Descriptor]] = {}  # uploaded in an earlier round of this push

    def describe(self, path: Path, name: str, media_type: str) -> tuple[Descriptor, Opener] | None:
        """The descriptor of the file at ``path`` (``name`` in the model) and how to read it, or None to have
        it hashed first."""
        began = time.time_ns()
        with open(path, "rb", buffering=0) as f:
            key = FileKey.of_fd(f.fileno())
            done = self._done.get(path)
            if done is not None and done[0] == key:
                return done[1], _opener(path)
            cached = self.digests.get(key)
            if cached is not None:
                return Descriptor(media_type, cached, key.size), self._checked(path, key)
            if self.uploads is None or not key.settled_before(began):
                return None
            desc = self._upload(f, key, name, media_type)  # type: ignore[arg-type]
        self.digests.put(key, desc.digest, began)
        self._done[path] = (key, desc)
        return desc, _opener(path)

    def _upload(self, f: BinaryIO, key: FileKey, name: str, media_type: str) -> Descriptor:
        assert self.uploads is not None
        stand_in = Descriptor(media_type, f"file:{name}", key.size, {ANN_FILEPATH: name})
        self.progress.start(stand_in)
        fd = f.fileno()
        desc = self.uploads.push_unhashed(self.report(f, stand_in), key.size, media_type, key=key.text(),
                                          label=name, seal=lambda: check_unchanged(fd, key, name),
                                          reread=lambda position, view: os.preadv(fd, [view], position))
        self.progress.streamed(stand_in, desc)
        return desc

    def _checked(self, path: Path, key: FileKey) -> Opener:
        """Reads the file of a cached digest; content that does not hash to it drops the cache entry."""
        @contextlib.contextmanager
        def opener() -> Iterator[BinaryIO]:
            try:
                with open(path, "rb") as f:
                    yield f
            except Exception as exc:
                if caused_by(exc, (DigestMismatch, SizeMismatch)):
                    self.digests.forget(key)
                raise
        return opener


def _opener(path: Path) -> Opener:
    return lambda: open(path, "rb")

