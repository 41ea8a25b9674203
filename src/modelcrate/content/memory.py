"""An in-memory Target for tests and in-process staging. Verifies like every other store."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import NotFound
from ..format import digest as _digest
from ..format.descriptor import Descriptor
from ..format.reference import validate_tag
from .verify import read_all, verifying

_LIMIT = 1 << 40


class MemoryStore:
    """A repository held in dictionaries."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.blobs: dict[str, bytes] = {}
        self.media_types: dict[str, str] = {}
        self.tag_map: dict[str, Descriptor] = {}

    def exists(self, desc: Descriptor) -> bool:
        return desc.digest in self.blobs

    @contextlib.contextmanager
    def fetch(self, desc: Descriptor) -> Iterator[BinaryIO]:
        if desc.digest not in self.blobs:
            raise NotFound(f"{desc.digest} is not in {self.name}")
        yield verifying(io.BytesIO(self.blobs[desc.digest]), desc)  # type: ignore[misc]

    def push(self, desc: Descriptor, stream: BinaryIO) -> None:
        if desc.digest in self.blobs:
            return
        self.blobs[desc.digest] = read_all(stream, desc, _LIMIT)
        self.media_types[desc.digest] = desc.media_type

    def resolve(self, reference: str) -> Descriptor:
        if _digest.is_digest(reference):
            if reference in self.blobs:
                return Descriptor(self.media_types[reference], reference, len(self.blobs[reference]))
        elif reference in self.tag_map:
            return self.tag_map[reference]
        raise NotFound(f"{self.name}:{reference} not found")

    def tag(self, desc: Descriptor, tag: str) -> None:
        validate_tag(tag)
        if desc.digest not in self.blobs:
            raise NotFound(f"{desc.digest} is not in {self.name}")
        self.tag_map[tag] = desc.bare()

    def tags(self) -> list[str]:
        return sorted(self.tag_map)
