"""The attachment predicate (``https://modelcrate.dev/attachment/v1``): a signed statement binding one
document (validation report, risk assessment, model card, SBOM, licence, or any type named by a URI) to a
model digest, by the document's own digest (spec/deployment.md "Attached documents").

Pure. The document itself is stored as its own referrer of the model (artifact type per document type,
one layer with the file's media type); the predicate names that layer's digest, size and media type, so
whoever verifies the statement can check the bytes.

>>> artifact_type("sbom")
'application/vnd.modelcrate.attachment.sbom.v1'
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelcrate.errors import SignatureError, UsageError
from modelcrate.signing.predicates import timestamp

ATTACHMENT_V1 = "https://modelcrate.dev/attachment/v1"
DOCUMENT_TYPES = ("validation-report", "risk-assessment", "model-card", "sbom", "license")
GENERIC_ARTIFACT_TYPE = "application/vnd.modelcrate.attachment.v1"
MAX_NAME = 255
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s]{1,2000}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\- ]{0,254}")
_SUFFIXES = {".md": "text/markdown", ".markdown": "text/markdown", ".cdx.json": "application/vnd.cyclonedx+json",
             ".spdx.json": "application/spdx+json", ".json": "application/json", ".pdf": "application/pdf",
             ".txt": "text/plain", ".html": "text/html", ".yaml": "application/yaml", ".yml": "application/yaml"}
_FIELDS = {"type", "document", "manifest", "actor", "time"}


def check_type(doc_type: Any) -> str:
    """A known document type or a URI; UsageError otherwise."""
    if isinstance(doc_type, str) and (doc_type in DOCUMENT_TYPES or _URI.fullmatch(doc_type)):
        return doc_type
    raise UsageError(f"document type {str(doc_type)[:80]!r} is not one of {', '.join(DOCUMENT_TYPES)} or a URI")


def artifact_type(doc_type: str) -> str:
    """The referrer artifact type of a document of ``doc_type`` (a URI type shares the generic one)."""
    return f"application/vnd.modelcrate.attachment.{doc_type}.v1" if doc_type in DOCUMENT_TYPES \
        else GENERIC_ARTIFACT_TYPE


def media_type_of(filename: str) -> str:
    """The media type a document file's name suggests (``application/octet-stream`` when unknown)."""
    lower = filename.lower()
    for suffix, media in _SUFFIXES.items():
        if lower.endswith(suffix):
            return media
    return mimetypes.guess_type(lower)[0] or "application/octet-stream"


def check_name(name: Any) -> str:
    """A document's file name: one plain path component (never a path), printable."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise UsageError(f"document name {str(name)[:80]!r} is not a plain file name")
    return name


@dataclass(frozen=True)
class AttachmentFields:
    doc_type: str
    name: str
    media_type: str
    digest: str  # the document blob
    size: int
    manifest: str  # the document's referrer manifest
    actor: str
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.doc_type, "name": self.name, "mediaType": self.media_type, "digest": self.digest,
                "size": self.size, "manifest": self.manifest, "actor": self.actor, "time": timestamp(self.time)}


def attachment_predicate(*, doc_type: str, name: str, media_type: str, digest: str, size: int, manifest: str,
                         actor: str, time: datetime | str) -> dict[str, Any]:
    check_type(doc_type)
    check_name(name)
    if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
        raise UsageError(f"media type {str(media_type)[:80]!r} is not type/subtype")
    for key, value in (("digest", digest), ("manifest", manifest)):
        if not isinstance(value, str) or not _DIGEST.fullmatch(value):
            raise UsageError(f"{key} {str(value)[:80]!r} is not sha256:<64 hex>")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise UsageError("size must be a whole number of bytes")
    if not isinstance(actor, str) or not actor:
        raise UsageError("an attachment record needs the actor's identity")
    return {"type": doc_type, "document": {"name": name, "mediaType": media_type, "digest": digest, "size": size},
            "manifest": manifest, "actor": actor, "time": timestamp(time)}


def parse_attachment(predicate: Any) -> AttachmentFields:
    """Check a verified attachment predicate; :class:`SignatureError` naming the bad field."""
    if not isinstance(predicate, Mapping) or set(predicate) != _FIELDS:
        raise SignatureError(f"attachment predicate must hold exactly {', '.join(sorted(_FIELDS))}")
    doc = predicate["document"]
    if not isinstance(doc, Mapping) or set(doc) != {"name", "mediaType", "digest", "size"}:
        raise SignatureError("attachment predicate: document must hold name, mediaType, digest, size")
    try:
        f = attachment_predicate(doc_type=predicate["type"], name=doc["name"], media_type=doc["mediaType"],
                                 digest=doc["digest"], size=doc["size"], manifest=predicate["manifest"],
                                 actor=predicate["actor"], time=predicate["time"])
    except UsageError as exc:
        raise SignatureError(f"attachment predicate: {exc}") from None
    d = f["document"]
    return AttachmentFields(f["type"], d["name"], d["mediaType"], d["digest"], d["size"], f["manifest"], f["actor"],
                            datetime.fromisoformat(f["time"]))
