"""Sigstore bundles stored as referrers: the names they carry, storing one, reading one back.

Everything here is shared by signing, verification, discovery and the model-signature file.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from ..content import referrers as _referrers
from ..content.referrers import Referrer
from ..content.target import Target
from ..content.verify import read_all
from ..errors import DigestMismatch, InvalidManifest, ModelcrateError, NotFound, SignatureError, SizeMismatch
from ..format.descriptor import Descriptor
from ..format.mediatypes import ANN_CREATED, MAX_MANIFEST_BYTES
from ..format.model import ModelView, read_model
from ..signing import bundle as _bundle
from ..signing import oms as _oms
from ..signing import predicates as _predicates
from ..signing import statement as _statement
from ..targets import read_subject  # noqa: F401 - named here by the modules that read signed records

BUNDLE_MEDIA_TYPE = _bundle.BUNDLE_MEDIA_TYPE
ANN_BUNDLE_CONTENT = "dev.sigstore.bundle.content"
ANN_PREDICATE_TYPE = "dev.sigstore.bundle.predicateType"
SIGNATURE_TYPE = _statement.SIGNATURE_V1
OMS_PREDICATE_TYPE = _oms.OMS_PREDICATE_TYPE
OMS_TITLE = "model.sig"
MAX_BUNDLE_BYTES = MAX_MANIFEST_BYTES
KNOWN_BUNDLE_TYPES = (BUNDLE_MEDIA_TYPE, "application/vnd.dev.sigstore.bundle+json;version=0.3")
REASONS_SHOWN = 5


def now() -> datetime:
    return datetime.now(UTC)


def created_text(created: datetime) -> str:
    return _predicates.timestamp(created.astimezone(UTC).replace(microsecond=0))


def short(digest: str) -> str:
    return digest[:19] + "…" if digest.startswith("sha256:") else digest


def _annotations(predicate_type: str, created: datetime) -> dict[str, str]:
    return {ANN_BUNDLE_CONTENT: "dsse-envelope", ANN_PREDICATE_TYPE: predicate_type,
            ANN_CREATED: created_text(created)}


def store_bundle(target: Target, subject: Descriptor, data: bytes, predicate_type: str, created: datetime,
                 title: str) -> Descriptor:
    """Attach bundle ``data`` as a referrer of ``subject``, announcing ``predicate_type`` in its annotations."""
    return _referrers.attach(target, subject, artifact_type=BUNDLE_MEDIA_TYPE, blob=data,
                             blob_media_type=BUNDLE_MEDIA_TYPE, annotations=_annotations(predicate_type, created),
                             blob_title=title)


def bundle_title(subject: Descriptor) -> str:
    return f"{_referrers.fallback_tag(subject.digest)}.sigstore.json"


def bundle_of(target: Target, referrer: Referrer) -> bytes:
    """The bundle bytes of a bundle referrer (one layer, verified against its digest)."""
    layers = referrer.manifest.layers
    if len(layers) != 1 or layers[0].media_type not in KNOWN_BUNDLE_TYPES:
        raise SignatureError("referrer is not a single Sigstore bundle layer")
    layer = layers[0]
    try:
        with target.fetch(layer) as stream:
            return read_all(stream, layer, MAX_BUNDLE_BYTES)
    except NotFound:
        raise SignatureError(f"bundle blob {short(layer.digest)} is missing") from None
    except (InvalidManifest, DigestMismatch, SizeMismatch) as exc:
        raise SignatureError(f"bundle blob unreadable: {exc}") from None


def claimed_type(bundle_bytes: bytes | None, referrer: Referrer) -> str | None:
    """The predicate type the bundle claims (unverified), else the annotation's claim. Display and triage only."""
    if bundle_bytes is not None:
        with contextlib.suppress(ModelcrateError, ValueError):
            return _statement.parse_statement(_bundle.unverified_statement_of(bundle_bytes),
                                              require_predicate=False).predicate_type
    return referrer.annotations.get(ANN_PREDICATE_TYPE)


def is_bundle(referrer: Referrer) -> bool:
    return not referrer.legacy and referrer.artifact_type in KNOWN_BUNDLE_TYPES


def reasons_text(reasons: list[str]) -> str:
    """The first few reasons, and how many more there were."""
    more = len(reasons) - REASONS_SHOWN
    return "; ".join(reasons[:REASONS_SHOWN]) + (f"; and {more} more" if more > 0 else "")


