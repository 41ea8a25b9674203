"""The values the public API returns: small frozen records with stable fields.

Each has the fields a caller (or the CLI's ``--json``) needs and nothing that holds a connection or a
file open. Records of the signing layer (``Verified``, ``Stored``, ``Node``) are the ones of
:mod:`modelcrate.signatures`, referenced here by name only, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .format.descriptor import Descriptor

if TYPE_CHECKING:
    from .format.model import ModelView
    from .signatures import ModelSignature, Node, Stored, Verified


@dataclass(frozen=True)
class Packed:
    """A model packed into the local store: its reference, manifest descriptor and parsed view."""

    reference: str
    descriptor: Descriptor
    view: ModelView

    @property
    def digest(self) -> str:
        return self.descriptor.digest


@dataclass(frozen=True)
class Listed:
    """One tagged model of the local store."""

    name: str
    tag: str | None
    digest: str
    size: int
    created: str | None
    version: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tag": self.tag, "digest": self.digest, "size": self.size,
                "created": self.created, "version": self.version}


@dataclass(frozen=True)
class Resolved:
    """What a reference names: the repository name (``HOST/NAME`` or ``NAME``) and the manifest."""

    reference: str
    name: str
    descriptor: Descriptor

    @property
    def digest(self) -> str:
        return self.descriptor.digest


@dataclass(frozen=True)
class TransferResult:
    """What a push, pull or copy did.

    ``blobs_*`` and ``bytes_copied``/``bytes_skipped`` count distinct nodes of the graph (manifests and
    config included); ``bytes_sent``/``bytes_received`` are body bytes that crossed the network, so a
    re-sent part counts twice. ``rounds`` is how many copy runs it took (more than 1 after a resume)."""

    reference: str
    digest: str
    media_type: str
    size: int
    copied: int = 0
    skipped: int = 0
    mounted: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    referrers: int = 0
    rounds: int = 1
    files: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "reference": self.reference, "digest": self.digest, "mediaType": self.media_type, "size": self.size,
            "copied": self.copied, "skipped": self.skipped, "mounted": self.mounted,
            "bytesCopied": self.bytes_copied, "bytesSkipped": self.bytes_skipped, "bytesSent": self.bytes_sent,
            "bytesReceived": self.bytes_received, "referrers": self.referrers, "rounds": self.rounds}
        if self.files:
            out["files"] = [{"path": p, "size": s} for p, s in self.files]
        return out


@dataclass(frozen=True)
class LoginResult:
    """``verified`` is False when the registry never asked for credentials (they were stored anyway)."""

    registry: str
    username: str
    stored_in: str
    verified: bool


@dataclass(frozen=True)
class Unpacked:
    """Files written by ``unpack`` (relative paths and sizes) and, when asked for, the model-signing
    bundle written beside them."""

    directory: str
    files: tuple[tuple[str, int], ...]
    model_signature: ModelSignature | None = None

    @property
    def total_size(self) -> int:
        return sum(size for _path, size in self.files)


@dataclass(frozen=True)
class Signed:
    """What ``sign`` stored for the manifest ``digest``: referrers and tags, and notes (why OMS was skipped)."""

    reference: str
    digest: str
    signer: str
    stored: tuple[Stored, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attested:
    """The attestation ``attest`` stored for the manifest ``digest``."""

    reference: str
    digest: str
    signer: str
    predicate_type: str
    stored: Stored


@dataclass(frozen=True)
class Verification:
    """The signatures or attestations of ``digest`` that passed every check (never empty: a model that
    fails raises instead)."""

    reference: str
    name: str
    digest: str
    verified: tuple[Verified, ...]


@dataclass(frozen=True)
class Discovery:
    """The referrers tree of ``digest``: what each referrer claims, unverified."""

    reference: str
    name: str
    digest: str
    referrers: tuple[Node, ...]
