"""The OpenSSF model-signing (OMS) file beside an unpacked model, for ``model_signing verify``.

``sign`` stores an OMS bundle over the model's files as a referrer; this module chooses the one that
matches the model, checks a path to write it to, and writes it (with the unpacked files:
:func:`unpack_with_signature`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import unpacking as _unpack
from .._internal.fsutil import atomic_write
from ..content import referrers as _referrers
from ..content.target import Target
from ..errors import AlreadyExists, SignatureError, UsageError
from ..format import digest as _digest
from ..format.descriptor import Descriptor
from ..format.model import ModelView
from ..signing import bundle as _bundle
from ..signing import oms as _oms
from ..unpacking import UnpackResult
from .bundles import OMS_PREDICATE_TYPE, bundle_of, claimed_type, is_bundle, read_subject, reasons_text, short
from .discovery import describe_bundle_signer
from .policy import Policy
from .verifiers import Verifier

# Messages the CLI recognises to add the flag that fixes them.
WHOLE_MODEL = "a model-signing file covers the whole model: it cannot be combined with a file selection"
OVERWRITE_HINT = "allow overwriting it"


@dataclass(frozen=True)
class ModelSignature:
    """The OMS bundle chosen for a model: its bytes, referrer and (claimed or verified) signer."""

    data: bytes = field(repr=False)
    referrer: str
    signer: str | None
    verified: bool


def oms_inputs(view: ModelView) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(files, ignore paths, notes) for an OMS statement built from the model's layer digests.

    A raw layer is one file whose SHA-256 is its layer digest, so nothing is re-hashed. A tar layer's
    members have no digests of their own in the manifest; its directory goes into ``ignore_paths``
    (recorded in the signed statement, so verifiers skip it visibly) and a note says so. The OCI
    signature still covers those layers through the manifest digest.
    """
    files: list[tuple[str, str]] = []
    ignored: list[str] = []
    for f in view.files:
        if f.format == "raw":
            files.append((f.path, _digest.hex_of(f.descriptor.digest)))
        elif f.path not in ignored:
            ignored.append(f.path)
    notes = []
    if ignored:
        notes.append("the model-signing (OMS) bundle does not cover the archived directories "
                     f"{', '.join(ignored)} (tar layers have no per-file digests; the OCI signature covers them)")
    return files, ignored, notes


def model_signature(target: Target, subject: Descriptor, *, verifier: Verifier | None = None) -> ModelSignature:
    """The newest OMS bundle stored for ``subject`` that matches the model's files.

    Every candidate's file list is checked against the manifest's raw layers (tar directories are in its
    ignore paths), so a bundle for other files is never chosen. With ``verifier`` its signature must
    verify too; without one the caller hands the file to ``model_signing verify`` later.
    """
    view = read_subject(target, subject)
    if view is None:
        raise UsageError(f"{subject.digest} is not a model: it has no model-signing bundle")
    files, _ignored, _notes = oms_inputs(view)
    reasons: list[str] = []
    chosen: ModelSignature | None = None
    for referrer in filter(is_bundle, _referrers.list_referrers(target, subject)):
        try:
            data = bundle_of(target, referrer)
        except SignatureError:
            continue
        if claimed_type(data, referrer) != OMS_PREDICATE_TYPE:
            continue
        signer: str | None
        try:
            if verifier is not None:
                signed, signer = verifier.verify_bundle(data)
            else:
                signed, signer = _bundle.unverified_statement_of(data), describe_bundle_signer(data)
            _oms.check_oms_statement(signed, files)
        except (SignatureError, UsageError) as exc:
            reasons.append(f"{short(referrer.descriptor.digest)}: {exc}")
            continue
        chosen = ModelSignature(data, referrer.descriptor.digest, signer, verifier is not None)  # newest wins
    if chosen is None:
        detail = f" ({reasons_text(reasons)})" if reasons else ""
        raise SignatureError(f"no model-signing (OMS) bundle for {subject.digest}{detail}",
                             hint="sign the model with `modelcrate sign` and an ECDSA key first")
    return chosen


def check_signature_path(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Refuse early (before a model is unpacked) a signature path that exists or has no directory."""
    path = Path(path)
    if (path.exists() or path.is_symlink()) and not force:
        raise AlreadyExists(f"{path} exists", hint=OVERWRITE_HINT)
    if path.is_dir():
        raise UsageError(f"the model-signature path {path} is a directory; name a file")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: {path.parent} is not a directory")
    return path


def save_model_signature(signature: ModelSignature, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write an OMS bundle to ``path`` atomically (an existing file only with ``force``)."""
    path = check_signature_path(path, force=force)
    atomic_write(path, signature.data)
    return path


def write_model_signature(target: Target, subject: Descriptor, path: str | os.PathLike[str], *,
                          verifier: Verifier | None = None, force: bool = False) -> ModelSignature:
    """Write the model's OMS bundle (:func:`model_signature`) to ``path``."""
    check_signature_path(path, force=force)
    signature = model_signature(target, subject, verifier=verifier)
    save_model_signature(signature, path, force=force)
    return signature


def prepare_model_signature(target: Target, subject: Descriptor, path: str | os.PathLike[str], *,
                            kinds: Sequence[str] = (), include: Sequence[str] = (),
                            verify: Policy | Verifier | None = None, force: bool = False) -> ModelSignature:
    """For unpacking with a model-signature file: every check, and the bundle, before any file is written.

    With ``verify`` (a pull's key or policy) the OMS bundle must be signed by an accepted signer too; the
    caller writes it with :func:`save_model_signature` once the files are in place.
    """
    check_model_signature_request(kinds, include)
    check_signature_path(path, force=force)
    verifier = verify.signers if isinstance(verify, Policy) else verify
    return model_signature(target, subject, verifier=verifier)


def check_model_signature_request(kinds: Sequence[str], include: Sequence[str]) -> None:
    """A model-signing file covers the whole model: refuse it together with a file selection."""
    if kinds or include:
        raise UsageError(WHOLE_MODEL)


def unpack_with_signature(target: Target, subject: Descriptor, out_dir: str | os.PathLike[str],
                          path: str | os.PathLike[str], *, force: bool = False, kinds: Sequence[str] = (),
                          include: Sequence[str] = (),
                          verify: Policy | Verifier | None = None,
                          check: _unpack.Check | None = None) -> tuple[UnpackResult, ModelSignature]:
    """Unpack the model and write its OMS bundle to ``path`` beside it: every refusal before any file is
    written (:func:`prepare_model_signature`), the bundle once the files are in place."""
    signature = prepare_model_signature(target, subject, path, kinds=kinds, include=include, verify=verify,
                                        force=force)
    result = _unpack.unpack(target, subject.digest, out_dir, kinds=tuple(kinds), include=tuple(include),
                            force=force, check=check)
    save_model_signature(signature, path, force=force)
    return result, signature
