"""The modelcar images linked to a model: its referrers that are container images carrying it.

``export --modelcar`` pushes the image beside the model and lists it as a referrer; ``status`` shows it.
The listing (the referrers API or the ``sha256-<hex>`` fallback index) is a hint written by anyone with
write access, so each candidate is opened — at most :data:`MAX_OPENED`, each manifest bounded and
checked against its digest — and counted only when its own ``subject`` is the model, its config is an
OCI image config and its ``dev.modelcrate.modelcar.model`` annotation names the model's digest. Where it
was pushed comes from the repository's tags the caller already read (no request). With a verifier the
modelcar's own signatures are verified and their signers shown; without, none are claimed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..content.referrers import Candidate, open_candidate
from ..content.target import Target
from ..errors import InvalidManifest, ModelcrateError
from ..format.descriptor import Descriptor
from ..format.mediatypes import ANN_CREATED
from ..signatures import SIGNATURE_TYPE, Verifier, collect_records
from .modelcar import ANN_MODEL, OCI_CONFIG

MAX_OPENED = 8  # modelcar candidates opened per model; a listing naming more is read this far


@dataclass(frozen=True)
class LinkedModelcar:
    """A modelcar image found as a referrer of a model, checked to carry that model."""

    digest: str
    size: int
    layers: int
    created: str | None  # the image's creation annotation (claimed)
    references: tuple[str, ...]  # NAME:TAG for every tag naming it, else NAME@DIGEST
    signatures: tuple[str, ...]  # signers whose signatures of the image verified
    verified: bool  # whether signatures were verified (a verifier was given)

    def to_dict(self) -> dict[str, object]:
        return {"digest": self.digest, "size": self.size, "layers": self.layers, "created": self.created,
                "references": list(self.references), "signatures": list(self.signatures),
                "verified": self.verified}


def is_candidate(candidate: Candidate) -> bool:
    """Whether a listing entry may be a modelcar (judged by what it claims, before opening it)."""
    d = candidate.descriptor
    return not candidate.legacy and (d.artifact_type == OCI_CONFIG or ANN_MODEL in (d.annotations or {}))


def linked_modelcars(target: Target, model: Descriptor, name: str, listed: Sequence[Candidate],
                     tags_by_digest: Mapping[str, Sequence[str]], verifier: Verifier | None,
                     limit: int = MAX_OPENED) -> list[LinkedModelcar]:
    """The modelcars of ``model`` among ``listed`` (its referrers listing), oldest first. ``name`` is the
    repository, ``tags_by_digest`` its tags by the digest they name. Never raises for what the
    registry holds: an entry that cannot be read or does not carry the model is left out."""
    found = []
    for candidate in [c for c in listed if is_candidate(c)][:limit]:
        try:
            referrer = open_candidate(target, candidate, model)
        except (InvalidManifest, ModelcrateError):
            continue
        manifest = referrer.manifest
        if manifest.config.media_type != OCI_CONFIG or manifest.annotations.get(ANN_MODEL) != model.digest:
            continue
        desc = referrer.descriptor
        tags = sorted(tags_by_digest.get(desc.digest, ()))
        found.append(LinkedModelcar(desc.digest, desc.size, len(manifest.layers), manifest.annotations.get(ANN_CREATED),
                                    tuple(f"{name}:{t}" for t in tags) or (f"{name}@{desc.digest}",),
                                    _signers(target, desc, name, verifier), verifier is not None))
    return sorted(found, key=lambda m: (m.created or "", m.digest))


def _signers(target: Target, desc: Descriptor, name: str, verifier: Verifier | None) -> tuple[str, ...]:
    if verifier is None:
        return ()
    try:
        records = collect_records(target, desc, name, verifier, predicate_type=SIGNATURE_TYPE).records
    except ModelcrateError:
        return ()
    return tuple(dict.fromkeys(r.signer for r in records))
