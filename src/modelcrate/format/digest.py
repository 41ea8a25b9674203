"""Digests: ``sha256:<64 lowercase hex>`` strings, the only algorithm modelcrate writes or trusts."""

from __future__ import annotations

import hashlib
import re

from ..errors import InvalidReference

ALGORITHM = "sha256"
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def validate(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256 digest, else raise :class:`InvalidReference`."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        shown = digest if isinstance(digest, str) and len(digest) < 100 else "<long value>"
        raise InvalidReference(f"invalid digest {shown!r}: expected sha256: and 64 lowercase hex digits")
    return digest


def is_digest(value: str) -> bool:
    """True for a well-formed sha256 digest."""
    return bool(_DIGEST.fullmatch(value))


def of(data: bytes) -> str:
    """The digest of ``data``: ``of(b"{}")`` → ``sha256:44136fa3…``."""
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"


def hex_of(digest: str) -> str:
    """The hex part of a validated digest."""
    return validate(digest).split(":", 1)[1]


def hasher() -> "hashlib._Hash":
    """A fresh hash object of the one algorithm."""
    return hashlib.sha256()
