"""``discover``: the referrers of a model as a tree, with what each one claims to be and who claims to sign it.

Claims, not facts: nothing here verifies a signature (use ``verify``). The walk is bounded: each
referrer is visited once, at most ``depth`` levels deep and ``limit`` manifests in all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..content import referrers as _referrers
from ..content.referrers import Referrer
from ..content.target import Target
from ..errors import InvalidManifest, ModelcrateError, SignatureError
from ..format.descriptor import Descriptor
from ..format.mediatypes import ANN_CREATED
from ..signing import cosign as _cosign
from ..signing import statement as _statement
from ..signing import x509 as _x509
from ..signing.dsse import b64decode
from .bundles import KNOWN_BUNDLE_TYPES, OMS_PREDICATE_TYPE, SIGNATURE_TYPE, bundle_of, claimed_type
from .signers import COSIGN_CERT_ANNOTATION

DISCOVER_DEPTH = 4
DISCOVER_LIMIT = 1000  # referrer manifests opened by one discover


@dataclass
class Node:
    """One referrer in the ``discover`` tree. ``signer`` is what the bundle claims, not a verified fact."""

    digest: str
    kind: str
    artifact_type: str | None
    predicate_type: str | None = None
    signer: str | None = None
    created: str | None = None
    tag: str | None = None
    children: list[Node] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "kind": self.kind, "artifactType": self.artifact_type,
                "predicateType": self.predicate_type, "signer": self.signer, "created": self.created,
                "tag": self.tag, "referrers": [c.to_dict() for c in self.children]}


def describe_bundle_signer(bundle_bytes: bytes) -> str | None:
    """Who a bundle says signed it, unverified: ``key <hint>``, ``certificate <subject>`` or
    ``keyless <identity> (<issuer>)``; None when it names nobody readable."""
    try:
        material = _statement.loads_strict(bundle_bytes, what="bundle").get("verificationMaterial") or {}
        if isinstance(material.get("publicKey"), Mapping):
            hint = material["publicKey"].get("hint")
            return f"key {str(hint)[:16]}" if hint else "key"
        raw = None
        if isinstance(material.get("certificate"), Mapping):
            raw = material["certificate"].get("rawBytes")
        elif isinstance(material.get("x509CertificateChain"), Mapping):
            raw = (material["x509CertificateChain"].get("certificates") or [{}])[0].get("rawBytes")
        if not raw:
            return None
        cert = _x509.load_der(b64decode(raw, what="certificate"))
    except (ModelcrateError, ValueError, AttributeError, TypeError):
        return None
    issuer = _x509.fulcio_issuer(cert)
    if issuer is not None:
        return f"keyless {_x509.cert_identity(cert) or '?'} ({issuer})"
    return f"certificate {_x509.cert_subject(cert)}"


def _kind_of(predicate_type: str | None) -> str:
    if predicate_type == SIGNATURE_TYPE:
        return "signature"
    if predicate_type == OMS_PREDICATE_TYPE:
        return "model-signing"
    return "attestation" if predicate_type else "bundle"


def _node(target: Target, referrer: Referrer, subject: Descriptor) -> Node:
    if referrer.legacy:
        layers = [d for d in referrer.manifest.layers if d.media_type == _cosign.SIMPLE_SIGNING_MEDIA_TYPE]
        signers = {"certificate" if COSIGN_CERT_ANNOTATION in (d.annotations or {}) else "key" for d in layers}
        return Node(referrer.descriptor.digest, "cosign-signature", _cosign.SIMPLE_SIGNING_MEDIA_TYPE, SIGNATURE_TYPE,
                    f"{len(layers)} cosign signature(s) by " + ("/".join(sorted(signers)) or "nobody"),
                    None, _referrers.cosign_signature_tag(subject.digest))
    node = Node(referrer.descriptor.digest, "other", referrer.artifact_type,
                created=referrer.annotations.get(ANN_CREATED))
    if referrer.artifact_type in KNOWN_BUNDLE_TYPES:
        try:
            data: bytes | None = bundle_of(target, referrer)
        except SignatureError:
            data = None
        node.predicate_type = claimed_type(data, referrer)
        node.kind = _kind_of(node.predicate_type)
        node.signer = describe_bundle_signer(data) if data is not None else "(bundle unreadable)"
    return node


def discover(target: Target, subject: Descriptor, *, depth: int = DISCOVER_DEPTH,
             limit: int = DISCOVER_LIMIT) -> list[Node]:
    """The referrers of ``subject`` as a tree (referrers of referrers too, ``depth`` levels), oldest first.

    Types and signers are what the referrers claim; use :func:`~modelcrate.signatures.verify` to check them.
    Each referrer is shown once, and at most ``limit`` referrer manifests are opened in all: a repository
    flooded with referrers cannot make the walk unbounded.
    """
    seen = {subject.digest}

    def walk(node_subject: Descriptor, level: int) -> list[Node]:
        found = []
        for candidate in _referrers.candidates(target, node_subject)[0]:
            if candidate.descriptor.digest in seen or len(seen) > limit:
                continue
            seen.add(candidate.descriptor.digest)
            try:
                found.append(_referrers.open_candidate(target, candidate, node_subject))
            except InvalidManifest:
                continue  # dangling, malformed or about another subject: not a referrer of this one
        nodes = []
        for referrer in sorted(found, key=lambda r: (r.annotations.get(ANN_CREATED, ""), r.descriptor.digest)):
            node = _node(target, referrer, node_subject)
            if level < depth:
                node.children = walk(referrer.descriptor, level + 1)
            nodes.append(node)
        return nodes

    return walk(subject, 1)
