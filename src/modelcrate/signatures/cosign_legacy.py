"""cosign's legacy tag-based signatures: the ``sha256-<hex>.sig`` image, written and checked as cosign does.

Each signature is one simple-signing layer (payload: the manifest digest and repository; annotation:
the signature). Writing appends our layer and re-tags, read-modify-write through
:func:`modelcrate.content.tagupdate.update_tag`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..content import referrers as _referrers
from ..content.referrers import Candidate
from ..content.tagupdate import update_tag
from ..content.target import Target
from ..content.verify import read_all
from ..errors import DigestMismatch, InvalidManifest, NotFound, SignatureError, SizeMismatch
from ..format.descriptor import Descriptor, parse_manifest
from ..format.mediatypes import MAX_MANIFEST_BYTES, OCI_MANIFEST
from ..signing import cosign as _cosign
from ..signing import statement as _statement
from .bundles import SIGNATURE_TYPE, created_text, short
from .records import DEFAULT_BUDGET, Budget
from .results import Stored, Verified
from .signers import Signer
from .verifiers import Verifier

MAX_LAYERS = 256  # simple-signing layers checked in one .sig image; the rest are reported as skipped
MAX_PAYLOAD_BYTES = 1 << 20  # one simple-signing payload (cosign's are a few hundred bytes)


def cosign_layer(subject: Descriptor, name: str, signer: Signer) -> tuple[bytes, Descriptor]:
    """The simple-signing payload for ``subject`` and its signed layer descriptor."""
    payload = _cosign.simple_signing_payload(name, subject.digest)
    return payload, Descriptor.of(_cosign.SIMPLE_SIGNING_MEDIA_TYPE, payload,
                                  annotations=signer.cosign_annotations(payload))


def write_cosign_signature(target: Target, subject: Descriptor, name: str, signer: Signer, *,
                           created: datetime) -> Stored:
    """Add a cosign simple-signing signature for ``subject`` to its ``sha256-<hex>.sig`` image, as cosign does.

    The image keeps earlier signatures (one layer each) and gets ours appended; the manifest and config
    bytes follow cosign's (go-containerregistry) serialisation.
    """
    return write_cosign_layer(target, subject, *cosign_layer(subject, name, signer), created=created)


def write_cosign_layer(target: Target, subject: Descriptor, payload: bytes, layer: Descriptor, *,
                       created: datetime) -> Stored:
    tag = _cosign.signature_tag(subject.digest)
    target.push(layer.bare(), io.BytesIO(payload))

    def change(now: Descriptor | None) -> Descriptor | None:
        layers = _read_sig_layers(target, now, tag)
        if _has_layer(layers, layer):
            return None
        layers.append(layer)
        config = _cosign.signature_config([d.digest for d in layers], created_text(created))
        config_desc = Descriptor.of(_cosign.OCI_IMAGE_CONFIG_MEDIA_TYPE, config)
        raw = _cosign.signature_manifest((config_desc.size, config_desc.digest),
                                         [(d.size, d.digest, d.annotations) for d in layers])
        desc = Descriptor.of(OCI_MANIFEST, raw)
        target.push(config_desc, io.BytesIO(config))
        target.push(desc, io.BytesIO(raw))
        return desc

    done = update_tag(target, tag, change)
    assert done.descriptor is not None  # our layer is in what the tag names
    return Stored("cosign-legacy", done.descriptor, SIGNATURE_TYPE, tag)


def _read_sig_layers(target: Target, desc: Descriptor | None, tag: str) -> list[Descriptor]:
    if desc is None:
        return []
    with target.fetch(Descriptor(OCI_MANIFEST, desc.digest, desc.size)) as stream:
        raw = read_all(stream, desc, MAX_MANIFEST_BYTES)
    try:
        layers = list(parse_manifest(raw).layers)
    except InvalidManifest as exc:
        raise SignatureError(f"{tag} holds something that is not a cosign signature manifest: {exc}") from None
    if any(d.media_type != _cosign.SIMPLE_SIGNING_MEDIA_TYPE for d in layers):
        # Rewriting it would change layers we do not understand; leave it to the tool that wrote them.
        raise SignatureError(f"{tag} holds layers that are not cosign simple-signing signatures; not rewriting it")
    return layers


def _has_layer(layers: list[Descriptor], layer: Descriptor) -> bool:
    return any(d.digest == layer.digest and (d.annotations or {}) == (layer.annotations or {}) for d in layers)


# --- verification ------------------------------------------------------------------------------------


def verify_legacy(target: Target, candidate: Candidate, subject: Descriptor, verifier: Verifier,
                  budget: Budget = DEFAULT_BUDGET) -> tuple[list[Verified], list[str], int, list[str]]:
    """(passed, reasons for layers that failed, layers checked, skipped notes) for cosign's ``.sig`` image.

    Anyone who can push writes this image, so reading it is bounded: at most :data:`MAX_LAYERS` layers,
    each distinct payload fetched once and at most :data:`MAX_PAYLOAD_BYTES`, and all payloads together
    within ``budget.bytes``; what is passed over is noted, never raised."""
    try:
        referrer = _referrers.open_candidate(target, candidate, subject)
    except InvalidManifest as exc:
        return [], [], 0, [str(exc)]
    layers = [d for d in referrer.manifest.layers if d.media_type == _cosign.SIMPLE_SIGNING_MEDIA_TYPE]
    skipped = [f"{len(layers) - MAX_LAYERS} cosign signature layer(s) over the limit of {MAX_LAYERS} not checked"
               ] if len(layers) > MAX_LAYERS else []
    passed: list[Verified] = []
    reasons: list[str] = []
    tag = _referrers.cosign_signature_tag(subject.digest)
    payloads = _Payloads(target, budget)
    for layer in layers[:MAX_LAYERS]:
        where = f"{tag} layer {short(layer.digest)}"
        payload, problem = payloads.get(layer)
        if payload is None:
            reasons.append(f"{where}: {problem}")
            continue
        try:
            signer = verifier.verify_cosign(payload, layer.annotations or {}, subject.digest)
        except SignatureError as exc:
            reasons.append(f"{where}: {exc}")
            continue
        passed.append(Verified("cosign", referrer.descriptor.digest, SIGNATURE_TYPE, f"{signer} (cosign)",
                               None, _docker_reference(payload)))
    return passed, reasons, min(len(layers), MAX_LAYERS), skipped + payloads.note()


class _Payloads:
    """Simple-signing payloads by digest: each fetched once, all within a byte budget."""

    def __init__(self, target: Target, budget: Budget) -> None:
        self.target, self.budget = target, budget
        self.read = 0
        self.refused = 0
        self.cache: dict[str, tuple[bytes | None, str | None]] = {}

    def get(self, layer: Descriptor) -> tuple[bytes | None, str | None]:
        if layer.digest not in self.cache:
            self.cache[layer.digest] = self._fetch(layer)
        return self.cache[layer.digest]

    def _fetch(self, layer: Descriptor) -> tuple[bytes | None, str | None]:
        if layer.size > MAX_PAYLOAD_BYTES:
            return None, f"payload of {layer.size} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit"
        if self.read + layer.size > self.budget.bytes:
            self.refused += 1
            return None, f"not read: over the budget of {self.budget.bytes} bytes"
        self.read += layer.size
        try:
            with self.target.fetch(layer) as stream:
                return read_all(stream, layer, MAX_PAYLOAD_BYTES), None
        except (NotFound, InvalidManifest, DigestMismatch, SizeMismatch) as exc:
            return None, f"payload {short(layer.digest)} unreadable: {exc}"

    def note(self) -> list[str]:
        return [f"{self.refused} cosign payload(s) not read: over the budget of {self.budget.bytes} bytes"
                ] if self.refused else []


def _docker_reference(payload: bytes) -> str | None:
    """The repository a verified simple-signing payload names (reported, like a statement's subject name)."""
    value: Any = _statement.loads_strict(payload, what="simple signing payload")
    for key in ("critical", "identity", "docker-reference"):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) else None
