"""A Progress that records what concurrent fetches report, for the tests of parallel pulls and unpacks."""

from __future__ import annotations

import threading

from modelcrate.graphcopy import Progress
from modelcrate.format.descriptor import Descriptor


class Recording(Progress):
    """Counts blobs in flight at once (``most``), starts of a digest already in flight (``clashes``) and
    bytes. With ``meet=N`` the first N starts wait for each other: the transfer fails (the barrier breaks)
    unless N blobs are fetched at once."""

    def __init__(self, meet: int = 0) -> None:
        self.lock = threading.Lock()
        self.active: set[str] = set()
        self.most = self.clashes = self.bytes = self.starts = 0
        self.barrier = threading.Barrier(meet, timeout=20) if meet else None

    def start(self, desc: Descriptor) -> None:
        with self.lock:
            self.clashes += desc.digest in self.active
            self.active.add(desc.digest)
            self.most = max(self.most, len(self.active))
            self.starts += 1
            meet = self.barrier is not None and self.starts <= self.barrier.parties
        if meet and self.barrier is not None:
            self.barrier.wait()

    def advance(self, desc: Descriptor, nbytes: int) -> None:
        with self.lock:
            self.bytes += nbytes

    def done(self, desc: Descriptor) -> None:
        with self.lock:
            self.active.discard(desc.digest)
