"""KServe's storage-initializer calling convention: ``STORAGE_URI DEST_DIR``, pulled by digest under policy.

KServe runs a ClusterStorageContainer as an init container with two arguments, the InferenceService's
``storageUri`` and the directory the model server reads (``/mnt/models``). The URI is
``modelcrate://REGISTRY/REPOSITORY@sha256:…``: pinned by digest, because a tag can move and a serving
platform must get exactly the bytes that were approved. The model is refused before a byte lands unless
its signatures satisfy the policy; every byte is verified as it is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import signatures as _signatures, transfer
from .._internal.inputs import MAX_SMALL_FILE, read_regular_file
from ..config import Config
from ..errors import InvalidReference, UsageError
from ..format.reference import Reference
from ..results import TransferResult

SCHEME = "modelcrate://"


@dataclass(frozen=True)
class Verification:
    """What the initializer checks: a policy file, a public key, or (only when asked for) nothing."""

    policy_path: str | None = None
    key_path: str | None = None
    allow_unverified: bool = False

    def load(self) -> _signatures.Policy | _signatures.Verifier | None:
        if self.policy_path and self.key_path:
            raise UsageError("give a policy or a public key, not both")
        if self.policy_path:
            return _signatures.load_policy(self.policy_path)
        if self.key_path:
            return _signatures.KeyVerifier.from_pem(read_regular_file(self.key_path, MAX_SMALL_FILE, "the key"))
        if self.allow_unverified:
            return None
        raise UsageError("no policy: refusing to serve an unverified model",
                         hint="mount a policy file and point MODELCRATE_POLICY at it (or MODELCRATE_PUBLIC_KEY "
                              "at a key)")


def parse_storage_uri(uri: str) -> Reference:
    """``modelcrate://REGISTRY/REPOSITORY@sha256:…`` → the reference; a tag alone is refused."""
    if not uri.startswith(SCHEME):
        raise InvalidReference(f"{uri!r} is not a {SCHEME} URI", hint=f"write {SCHEME}REGISTRY/REPOSITORY@sha256:…")
    ref = Reference.parse(uri[len(SCHEME):])
    if ref.registry is None:
        raise InvalidReference(f"{uri!r} names no registry", hint=f"write {SCHEME}REGISTRY/REPOSITORY@sha256:…")
    if ref.digest is None:
        raise InvalidReference(f"{uri!r} is not pinned by digest",
                               hint="a tag can move; pin the InferenceService to REPOSITORY@sha256:… "
                                    "(see `modelcrate resolve`)")
    return ref


def initialize(uri: str, dest: str | os.PathLike[str], verification: Verification, *, config: Config,
               concurrency: int | None = None) -> TransferResult:
    """Write the model at ``uri`` into ``dest`` (KServe creates it empty) after the policy is satisfied."""
    ref = parse_storage_uri(uri)
    verify = verification.load()  # a bad policy fails before any request
    return transfer.pull_to_dir(str(ref), dest, verify=verify, config=config, concurrency=concurrency)
