"""Attached documents: validation reports, risk assessments, model cards, SBOMs, licences (spec/deployment.md).

A document is two referrers of the model: the document itself (artifact type per document type, one layer
with the file's media type, so ORAS and registry UIs show it as what it is), and a signed attachment
record (:mod:`modelcrate.signing.attachment`) naming the document's digest. Only the record is trusted:
a document is found through a verified record, and its bytes are checked against the record's digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..content import referrers as _referrers
from ..content.target import Target
from ..content.verify import read_all
from ..errors import NotFound, SignatureError, UsageError
from ..format.descriptor import Descriptor
from ..format.mediatypes import ANN_CREATED
from ..signatures import Signer, Stored, Verifier, attach_record, parsed_records
from ..signatures.bundles import created_text
from ..signing.attachment import (
    ATTACHMENT_V1,
    AttachmentFields,
    artifact_type,
    attachment_predicate,
    check_name,
    check_type,
    parse_attachment,
)

MAX_DOCUMENT = 256 * 1024 * 1024
ANN_DOCUMENT_TYPE = "dev.modelcrate.attachment.type"


@dataclass(frozen=True)
class Attachment:
    """A verified attachment record and what it says about its document."""

    fields: AttachmentFields
    signer: str
    record: str
    bundle: str

    def to_dict(self) -> dict[str, object]:
        return {**self.fields.to_dict(), "signer": self.signer, "record": self.record, "bundle": self.bundle}

    @property
    def descriptor(self) -> Descriptor:
        f = self.fields
        return Descriptor(f.media_type, f.digest, f.size)


def attach(target: Target, subject: Descriptor, name: str, signer: Signer, *, doc_type: str, data: bytes,
           filename: str, media_type: str, created: datetime) -> tuple[Stored, Attachment]:
    """Store ``data`` as a document referrer of ``subject`` and sign an attachment record binding it."""
    check_type(doc_type)
    check_name(filename)
    if len(data) > MAX_DOCUMENT:
        raise UsageError(f"{filename} is larger than {MAX_DOCUMENT // (1024 * 1024)} MiB")
    doc = _referrers.attach(target, subject, artifact_type=artifact_type(doc_type), blob=data,
                            blob_media_type=media_type, blob_title=filename,
                            annotations={ANN_DOCUMENT_TYPE: doc_type, ANN_CREATED: created_text(created)})
    blob = Descriptor.of(media_type, data)
    predicate = attachment_predicate(doc_type=doc_type, name=filename, media_type=media_type, digest=blob.digest,
                                     size=blob.size, manifest=doc.digest, actor=signer.description,
                                     time=created.replace(microsecond=0))
    stored = attach_record(target, subject, name, signer, ATTACHMENT_V1, predicate, created=created)
    return stored, Attachment(parse_attachment(predicate), signer.description, stored.descriptor.digest, "")


def attachments_of(target: Target, subject: Descriptor, name: str, verifier: Verifier,
                   doc_type: str | None = None) -> list[Attachment]:
    """Every verified, well-formed attachment record of ``subject`` (of ``doc_type``), oldest first."""
    return [Attachment(fields, r.signer, r.descriptor.digest, r.bundle_digest)
            for r, fields in parsed_records(target, subject, name, verifier, predicate_type=ATTACHMENT_V1,
                                            parse=parse_attachment) if doc_type is None or fields.doc_type == doc_type]


def document_bytes(target: Target, attachment: Attachment) -> bytes:
    """The document's bytes, checked against the digest and size its signed record names."""
    desc = attachment.descriptor
    if desc.size > MAX_DOCUMENT:
        raise SignatureError(f"the {attachment.fields.doc_type} document is larger than the limit")
    try:
        with target.fetch(desc) as stream:
            return read_all(stream, desc, MAX_DOCUMENT)
    except NotFound:
        raise NotFound(f"the {attachment.fields.doc_type} document {desc.digest[:19]}… is missing from "
                       f"{target.name}") from None
