"""cosign's ``.sig`` image is written by anyone who can push: one image listing a 4 MiB payload in 10,000
layers must not make one ``verify`` read gigabytes. Each payload is read once, within the byte budget."""

from __future__ import annotations

import io

import pytest

from modelcrate import signatures
from modelcrate.content import referrers
from modelcrate.errors import SignatureError
from modelcrate.format.descriptor import Descriptor
from modelcrate.format.mediatypes import OCI_MANIFEST
from modelcrate.signatures.cosign_legacy import MAX_PAYLOAD_BYTES
from modelcrate.signatures.records import DEFAULT_BUDGET
from modelcrate.signing import cosign as _cosign

from .test_sigops_hostile_referrers import Counting


def _sig_image(repo, subject: Descriptor, payload: bytes, layers: int) -> None:
    blob = Descriptor.of(_cosign.SIMPLE_SIGNING_MEDIA_TYPE, payload)
    repo.push(blob, io.BytesIO(payload))
    config = _cosign.signature_config([blob.digest], "2026-01-01T00:00:00Z")
    config_desc = Descriptor.of(_cosign.OCI_IMAGE_CONFIG_MEDIA_TYPE, config)
    repo.push(config_desc, io.BytesIO(config))
    entries = [(blob.size, blob.digest, {_cosign.SIGNATURE_ANNOTATION: f"c2lnbmF0dXJl{i}"}) for i in range(layers)]
    raw = _cosign.signature_manifest((config_desc.size, config_desc.digest), entries)
    desc = Descriptor.of(OCI_MANIFEST, raw)
    repo.push(desc, io.BytesIO(raw))
    repo.tag(desc, referrers.cosign_signature_tag(subject.digest))


def _fetched_bytes(counting: Counting, sizes: dict[str, int]) -> int:
    return sum(sizes.get(d, 0) for d in counting.fetched)


@pytest.mark.parametrize("payload_size", [4 * 1024 * 1024, 200_000])
def test_one_payload_in_ten_thousand_layers_is_read_at_most_once(model, ec_key, payload_size: int) -> None:
    repo, desc = model
    payload = b"x" * payload_size
    _sig_image(repo, desc, payload, 10_000)
    counting = Counting(repo)
    with pytest.raises(SignatureError):
        signatures.verify(counting, desc, repo.name, signatures.KeyVerifier(ec_key.public_key()))
    payload_digest = Descriptor.of(_cosign.SIMPLE_SIGNING_MEDIA_TYPE, payload).digest
    reads = counting.fetched.count(payload_digest)
    assert reads <= (1 if payload_size <= MAX_PAYLOAD_BYTES else 0)
    assert reads * payload_size <= DEFAULT_BUDGET.bytes
