"""The values the public API returns: small frozen records with stable fields.

Each has the fields a caller (or the CLI's ``--json``) needs and nothing that holds a connection or a
file open. ``to_dict()`` is the record's JSON shape, the one ``--json`` prints (spec/cli-json.md): records
about a model always carry ``reference`` and ``digest``, and ``files`` is always a list of objects with at
least ``path`` and ``size``. Records of the signing layer (``Verified``, ``Stored``, ``Node``) are the ones of
:mod:`modelcrate.signatures`, referenced here by name only, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .format.descriptor import Descriptor

if TYPE_CHECKING:
    from .format.model import ModelView
    from .lifecycle.chain import Entry
    from .lifecycle.deprecation import Deprecated
    from .lifecycle.gate import Decision
    from .signatures import ModelSignature, Node, Stored, Verified


def file_list(files: tuple[tuple[str, int], ...] | list[tuple[str, int]]) -> list[dict[str, Any]]:
    """``[(path, size)]`` as the JSON ``files`` list."""
    return [{"path": path, "size": size} for path, size in files]


def model_dict(reference: str, view: ModelView) -> dict[str, Any]:
    """The JSON shape of a model (``pack``, ``inspect``): manifest facts, metadata and every file."""
    return {"reference": reference, "digest": view.manifest.digest, "mediaType": view.manifest.media_type,
            "artifactType": view.manifest.artifact_type, "size": view.total_size, "metadata": view.metadata,
            "files": [{"path": f.path, "kind": f.kind, "format": f.format, "size": f.descriptor.size,
                       "digest": f.descriptor.digest, "mode": f"{f.mode:o}" if f.mode is not None else None}
                      for f in view.files]}


@dataclass(frozen=True)
class Packed:
    """A model packed into the local store: its reference, manifest descriptor and parsed view."""

    reference: str
    descriptor: Descriptor
    view: ModelView

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    def to_dict(self) -> dict[str, Any]:
        return model_dict(self.reference, self.view)


@dataclass(frozen=True)
class Inspected:
    """A model read by reference (local store or registry), from its manifest alone."""

    reference: str
    view: ModelView
    remote: bool = False

    @property
    def digest(self) -> str:
        return self.view.manifest.digest

    # the ModelView's fields, so an Inspected reads like the view it holds
    manifest = property(lambda self: self.view.manifest)
    files = property(lambda self: self.view.files)
    metadata = property(lambda self: self.view.metadata)
    total_size = property(lambda self: self.view.total_size)

    def to_dict(self) -> dict[str, Any]:
        return {**model_dict(self.reference, self.view), "remote": self.remote}


@dataclass(frozen=True)
class Initialized:
    """What ``init`` or ``import`` wrote: the modelcrate.yaml, the model name in it, the files it classified,
    the source formats it read, what it could not map, and the fields filled from weight headers."""

    path: str
    name: str
    files: tuple[str, ...]
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    facts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name, "files": [{"path": f} for f in self.files],
                "sources": list(self.sources), "notes": list(self.notes), "facts": dict(self.facts)}


@dataclass(frozen=True)
class Tagged:
    """``tag``: the new reference, the one it was made from, and the manifest both name."""

    reference: str
    source: str
    descriptor: Descriptor

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "source": self.source, "digest": self.digest,
                "mediaType": self.descriptor.media_type}


@dataclass(frozen=True)
class Removed:
    """``rm``: the manifest a reference named and every tag removed with it (``NAME:TAG`` each)."""

    reference: str
    digest: str
    untagged: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "untagged": list(self.untagged)}


@dataclass(frozen=True)
class Deleted:
    """``delete``: the manifest removed from a registry."""

    reference: str
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "deleted": True}


@dataclass(frozen=True)
class Listed:
    """One tagged model of the local store."""

    name: str
    tag: str | None
    digest: str
    size: int
    created: str | None
    version: str | None

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}" if self.tag else f"{self.name}@{self.digest}"

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "name": self.name, "tag": self.tag, "digest": self.digest,
                "size": self.size, "created": self.created, "version": self.version}


@dataclass(frozen=True)
class Resolved:
    """What a reference names, pinned: ``reference`` is ``NAME@sha256:…`` (the line a deployment pins), ``name``
    the repository (``HOST/NAME`` or ``NAME``). For a stage tag, ``stage``; resolved under a policy or keys,
    also the verified head of its history (``entry``) and the policy's ``decision``. ``deprecation`` is a
    deprecation a trusted signer made; ``warnings`` are what the caller should be told."""

    reference: str
    name: str
    descriptor: Descriptor
    stage: str | None = None
    entry: Entry | None = None
    decision: Decision | None = None
    deprecation: Deprecated | None = None
    warnings: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "stage": self.stage,
                "entry": self.entry.to_dict() if self.entry else None,
                "rules": [r.to_dict() for r in self.decision.rules] if self.decision else [],
                "deprecation": self.deprecation.to_dict() if self.deprecation else None,
                "warnings": list(self.warnings)}


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
            "bytesReceived": self.bytes_received, "referrers": self.referrers, "rounds": self.rounds,
            "files": file_list(self.files)}
        return out


@dataclass(frozen=True)
class LoginResult:
    """``verified`` is False when the registry never asked for credentials (they were stored anyway)."""

    registry: str
    username: str
    stored_in: str
    verified: bool

    @property
    def helper(self) -> bool:
        """True when a credential helper holds them; else they are base64 in the docker config file."""
        return self.stored_in.startswith("docker-credential-")

    def to_dict(self) -> dict[str, Any]:
        return {"registry": self.registry, "username": self.username, "storedIn": self.stored_in,
                "helper": self.helper, "verified": self.verified}


@dataclass(frozen=True)
class Unpacked:
    """Files written by ``unpack`` (relative paths and sizes) and, when asked for, the model-signing
    bundle written beside them."""

    directory: str
    files: tuple[tuple[str, int], ...]
    model_signature: ModelSignature | None = None
    reference: str = ""
    digest: str = ""
    model_signature_path: str | None = None

    @property
    def total_size(self) -> int:
        return sum(size for _path, size in self.files)

    def to_dict(self) -> dict[str, Any]:
        signature = self.model_signature
        return {"reference": self.reference, "digest": self.digest, "directory": self.directory,
                "size": self.total_size, "files": file_list(self.files),
                "modelSignature": None if signature is None else {
                    "path": self.model_signature_path, "referrer": signature.referrer, "signer": signature.signer}}


@dataclass(frozen=True)
class Signed:
    """What ``sign`` stored for the manifest ``digest``: referrers and tags, and notes (why OMS was skipped)."""

    reference: str
    digest: str
    signer: str
    stored: tuple[Stored, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "signer": self.signer,
                "stored": [s.to_dict() for s in self.stored], "notes": list(self.notes)}


@dataclass(frozen=True)
class Attested:
    """The attestation ``attest`` stored for the manifest ``digest``."""

    reference: str
    digest: str
    signer: str
    predicate_type: str
    stored: Stored

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "signer": self.signer,
                "predicateType": self.predicate_type, "stored": self.stored.to_dict()}


@dataclass(frozen=True)
class Verification:
    """The signatures or attestations of ``digest`` that passed every check (never empty: a model that
    fails raises instead)."""

    reference: str
    name: str
    digest: str
    verified: tuple[Verified, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "verified": [v.to_dict() for v in self.verified]}


@dataclass(frozen=True)
class Discovery:
    """The referrers tree of ``digest``: what each referrer claims, unverified."""

    reference: str
    name: str
    digest: str
    referrers: tuple[Node, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "referrers": [n.to_dict() for n in self.referrers]}


@dataclass(frozen=True)
class Pruned:
    """What ``prune`` removed (or, on a dry run, would remove)."""

    dry_run: bool
    blobs: int
    bytes: int
    leftovers: int
    leftover_bytes: int
    untagged: tuple[str, ...] = ()

    @property
    def freed(self) -> int:
        return self.bytes + self.leftover_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"dryRun": self.dry_run, "blobs": self.blobs, "bytes": self.bytes, "leftovers": self.leftovers,
                "leftoverBytes": self.leftover_bytes, "freed": self.freed, "untagged": list(self.untagged)}


@dataclass(frozen=True)
class RepositoryUsage:
    """One repository of the local store: its tagged models, the bytes it reaches, the bytes only it reaches."""

    name: str
    models: int
    size: int
    unique: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "models": self.models, "size": self.size, "unique": self.unique}


@dataclass(frozen=True)
class DiskUsage:
    """``df``: the local store's bytes on disk, by repository, and what ``prune`` would free now."""

    root: str
    total: int
    blobs: int
    reclaimable: int
    leftovers: int
    repositories: tuple[RepositoryUsage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.root, "total": self.total, "blobs": self.blobs, "reclaimable": self.reclaimable,
                "leftovers": self.leftovers, "repositories": [r.to_dict() for r in self.repositories]}
