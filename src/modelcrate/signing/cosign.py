"""Cosign "simple signing": the legacy signature cosign stores under the tag ``sha256-<hex>.sig``.

The signed payload is the JSON cosign writes with Go's ``encoding/json``: struct fields in declaration
order (``critical`` then ``optional``; ``identity``, ``image``, ``type``), map keys sorted, no spaces,
``<``, ``>``, ``&``, U+2028 and U+2029 escaped as ``\\u003c`` etc., other non-ASCII as raw UTF-8, and
``"optional":null`` when there are no annotations::

    {"critical":{"identity":{"docker-reference":"REPO"},"image":{"docker-manifest-digest":"sha256:..."},
     "type":"cosign container image signature"},"optional":null}

The payload is stored as a layer of media type :data:`SIMPLE_SIGNING_MEDIA_TYPE`; the signature over its
bytes (ECDSA P-256 with SHA-256, ASN.1 DER) goes, base64-encoded, into the layer annotation
:data:`SIGNATURE_ANNOTATION`.

Example:

>>> simple_signing_payload("registry.example/m", "sha256:" + "ab" * 32)[:47]
b'{"critical":{"identity":{"docker-reference":"re'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from modelcrate.errors import SignatureError, UsageError
from modelcrate.signing import keys
from modelcrate.signing.dsse import b64decode, b64encode
from modelcrate.signing.statement import loads_strict

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
# Go's encoder escapes these even inside strings (HTML safety, JavaScript line separators).
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_string(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def _digest_hex(manifest_digest: str) -> str:
    match = _DIGEST.fullmatch(manifest_digest) if isinstance(manifest_digest, str) else None
    if match is None:
        raise UsageError(f"expected a manifest digest sha256:<64 hex>, got {manifest_digest!r}")
    return match.group(1)


def signature_tag(manifest_digest: str) -> str:
    """The tag cosign stores the signature of ``manifest_digest`` under.

    >>> signature_tag("sha256:" + "0f" * 32)
    'sha256-0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f.sig'
    """
    return f"sha256-{_digest_hex(manifest_digest)}.sig"


def _optional_json(annotations: Mapping[str, str] | None) -> str:
    if annotations is None:
        return "null"
    for key, value in annotations.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise UsageError("cosign annotations must map strings to strings")
    # Go sorts map keys by their bytes; UTF-8 byte order equals code-point order.
    items = ",".join(f"{_go_string(k)}:{_go_string(annotations[k])}" for k in sorted(annotations))
    return "{" + items + "}"


def simple_signing_payload(
    docker_reference: str, manifest_digest: str, annotations: Mapping[str, str] | None = None
) -> bytes:
    """The exact payload bytes cosign signs for ``manifest_digest`` in ``docker_reference``.

    ``docker_reference`` is the repository without tag or digest, as cosign writes it (cosign uses
    go-containerregistry's full name, e.g. ``index.docker.io/library/x`` for Docker Hub). An empty
    annotation dict gives ``{}``, ``None`` gives ``null`` (as a nil Go map).

    >>> simple_signing_payload("r", "sha256:" + "00" * 32, {"k": "v"}).endswith(b',"optional":{"k":"v"}}')
    True
    """
    if not isinstance(docker_reference, str) or not docker_reference:
        raise UsageError("the docker reference must be a non-empty repository name")
    digest = f"sha256:{_digest_hex(manifest_digest)}"
    critical = (
        '{"identity":{"docker-reference":' + _go_string(docker_reference) + "},"
        '"image":{"docker-manifest-digest":' + _go_string(digest) + "},"
        '"type":' + _go_string(SIGNATURE_TYPE) + "}"
    )
    text = '{"critical":' + critical + ',"optional":' + _optional_json(annotations) + "}"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("the payload contains text that is not valid Unicode") from None


def sign_payload(payload: bytes, key: keys.PrivateKey) -> dict[str, str]:
    """Sign payload bytes; returns the layer annotations (``dev.cosignproject.cosign/signature``)."""
    return {SIGNATURE_ANNOTATION: b64encode(keys.sign_bytes(key, payload))}


def verify_payload(
    payload: bytes,
    layer_annotations: Mapping[str, str],
    public_key: keys.PublicKey,
    *,
    digest: str,
    docker_reference: str | None = None,
) -> Mapping[str, Any]:
    """Verify a simple-signing layer and that it is about ``digest``; returns the parsed payload.

    Raises :class:`SignatureError` when the signature does not verify, the type is not a cosign image
    signature, or the payload names another manifest (or another repository, if ``docker_reference``).
    """
    encoded = layer_annotations.get(SIGNATURE_ANNOTATION)
    if not encoded:
        raise SignatureError(f"layer has no {SIGNATURE_ANNOTATION} annotation")
    if not keys.verify_bytes(public_key, payload, b64decode(encoded, what="cosign signature")):
        raise SignatureError("cosign signature does not verify with the given key")
    document = loads_strict(payload, what="simple signing payload")
    critical = _object(document, "critical")
    if critical.get("type") != SIGNATURE_TYPE:
        raise SignatureError("payload is not a cosign container image signature")
    signed_digest = _object(critical, "image").get("docker-manifest-digest")
    if signed_digest != digest:
        raise SignatureError(f"signature is for {signed_digest}, not {digest}")
    signed_reference = _object(critical, "identity").get("docker-reference")
    if docker_reference is not None and signed_reference != docker_reference:
        raise SignatureError(f"signature names {signed_reference!r}, not {docker_reference!r}")
    return dict(document)  # a Mapping: its "critical" member was just read


def _object(parent: Any, key: str) -> Mapping[str, Any]:
    # A missing or mistyped member reads as empty, so the checks after it fail with their own message.
    value = parent.get(key) if isinstance(parent, Mapping) else None
    return value if isinstance(value, Mapping) else {}


# --- the signature image (``sha256-<hex>.sig``) ----------------------------------------------------
# cosign builds it with go-containerregistry: an empty image, OCI media types, one layer appended per
# signature (``mutate.Append``), then ``mutate.CreatedAt(now)``. Go's ``encoding/json`` writes struct
# fields in declaration order, so these builders spell the bytes out in that order rather than using
# canonical JSON.

OCI_IMAGE_CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def _go_descriptor(media_type: str, size: int, digest: str, annotations: Mapping[str, str] | None) -> str:
    # v1.Descriptor field order: mediaType, size, digest, (data, urls,) annotations (map: sorted keys).
    text = '{"mediaType":' + _go_string(media_type) + ',"size":' + str(int(size)) + ',"digest":' + _go_string(digest)
    if annotations:
        text += ',"annotations":' + _optional_json(annotations)
    return text + "}"


def signature_config(layer_digests: Sequence[str], created: str) -> bytes:
    """The config blob cosign writes for a signature image with these layers (exact bytes).

    ``created`` is the image creation time as Go's RFC 3339 (``2026-01-02T03:04:05Z``); each layer adds a
    zero-time history entry and its digest as diff ID (a simple-signing layer is its own uncompressed
    form).

    >>> signature_config(["sha256:" + "0" * 64], "2026-01-02T03:04:05Z")[:62]
    b'{"architecture":"","created":"2026-01-02T03:04:05Z","history":'
    """
    if not layer_digests:
        raise UsageError("a signature image needs at least one signature layer")
    for digest in layer_digests:
        _digest_hex(digest)
    history = ",".join('{"created":"' + _GO_ZERO_TIME + '"}' for _ in layer_digests)
    diff_ids = ",".join(_go_string(d) for d in layer_digests)
    text = (
        '{"architecture":"","created":' + _go_string(created) + ',"history":[' + history + '],"os":"",'
        '"rootfs":{"type":"layers","diff_ids":[' + diff_ids + ']},"config":{}}'
    )
    return text.encode("utf-8")


def signature_manifest(
    config: tuple[int, str], layers: Sequence[tuple[int, str, Mapping[str, str] | None]]
) -> bytes:
    """The image manifest cosign writes for a signature image (exact bytes, Go field order).

    ``config`` is ``(size, digest)`` of :func:`signature_config`'s bytes; each layer is
    ``(size, digest, annotations)`` of a :data:`SIMPLE_SIGNING_MEDIA_TYPE` payload.

    >>> signature_manifest((2, "sha256:" + "1" * 64), [(3, "sha256:" + "2" * 64, {"k": "v"})])[:69]
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1'
    """
    if not layers:
        raise UsageError("a signature image needs at least one signature layer")
    config_text = _go_descriptor(OCI_IMAGE_CONFIG_MEDIA_TYPE, config[0], config[1], None)
    layer_text = ",".join(_go_descriptor(SIMPLE_SIGNING_MEDIA_TYPE, s, d, a) for s, d, a in layers)
    text = (
        '{"schemaVersion":2,"mediaType":' + _go_string(_OCI_MANIFEST) + ',"config":' + config_text
        + ',"layers":[' + layer_text + "]}"
    )
    return text.encode("utf-8")
