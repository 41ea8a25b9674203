"""``sign`` and ``attest``: records about a model, written through :func:`.records.attach_record`.

``sign`` writes the signature record, an OpenSSF model-signing (OMS) bundle over the model's files and,
on request, cosign's legacy ``.sig`` signature. ``attest`` validates a predicate (or builds the default
one for provenance and evaluation) and writes it as a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import provenance as _provenance
from ..content.target import Target
from ..errors import SignatureError, UsageError
from ..format.descriptor import Descriptor
from ..format.model import ModelView
from ..signing import predicates as _predicates
from ..signing import statement as _statement
from .bundles import OMS_PREDICATE_TYPE, OMS_TITLE, SIGNATURE_TYPE, created_text, read_subject, store_bundle
from .cosign_legacy import cosign_layer, write_cosign_layer
from .model_signing import oms_inputs
from .records import attach_record
from .results import SignResult, Stored
from .signers import Signer

DEFAULT_PREDICATE_TYPES = (_statement.SLSA_PROVENANCE_V1, _statement.EVALUATION_V1)
# Messages the CLI recognises to add the flag that fixes them.
NO_METRICS = "the model's metadata has no metrics: give the evaluation predicate explicitly"
SIGN_WITH_SIGN = "use `modelcrate sign` for signatures; attest takes provenance, evaluation or a URI"


def _oms_model_name(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1] or "model"


def _sign_oms(target: Target, subject: Descriptor, name: str, signer: Signer, view: ModelView,
              created: datetime) -> tuple[Stored | None, list[str]]:
    files, ignored, notes = oms_inputs(view)
    try:
        data = signer.sign_oms(files, model_name=_oms_model_name(name), ignore_paths=ignored)
    except UsageError as exc:
        return None, [*notes, f"no model-signing (OMS) bundle: {exc}"]
    return Stored("model-signing", store_bundle(target, subject, data, OMS_PREDICATE_TYPE, created, OMS_TITLE),
                  OMS_PREDICATE_TYPE), notes


def sign(target: Target, subject: Descriptor, name: str, signer: Signer, *, created: datetime,
         cosign_legacy: bool = False, model_signing: bool = True) -> SignResult:
    """Sign the manifest ``subject`` in ``target``; ``name`` is its repository (the statement subject name).

    Stores (1) the signature bundle referrer (predicate ``https://sigstore.dev/cosign/sign/v1``, empty
    predicate); (2) unless ``model_signing`` is False, an OMS bundle over the model's files as a second
    referrer (skipped with a note when the signer cannot make one, e.g. Ed25519 keys); (3) with
    ``cosign_legacy``, cosign's simple-signing signature at ``sha256-<hex>.sig``.
    """
    # The cosign layer is signed first: a signer that cannot make one is refused before anything is written.
    legacy = cosign_layer(subject, name, signer) if cosign_legacy else None
    stored = [attach_record(target, subject, name, signer, SIGNATURE_TYPE, {}, created=created)]
    notes: list[str] = []
    if model_signing:
        view = read_subject(target, subject)
        if view is None:
            notes.append("no model-signing (OMS) bundle: the subject is not a model manifest")
        else:
            oms_stored, oms_notes = _sign_oms(target, subject, name, signer, view, created)
            notes.extend(oms_notes)
            if oms_stored is not None:
                stored.append(oms_stored)
    if legacy is not None:
        stored.append(write_cosign_layer(target, subject, *legacy, created=created))
    return SignResult(subject.digest, tuple(stored), tuple(notes))


def _check_predicate(predicate_type: str, predicate: Mapping[str, Any]) -> None:
    if not isinstance(predicate, Mapping):
        raise UsageError("the predicate must be a JSON object")
    try:
        if predicate_type == _statement.SLSA_PROVENANCE_V1:
            _predicates.validate_slsa_provenance(predicate)
        elif predicate_type == _statement.EVALUATION_V1:
            _predicates.validate_evaluation(predicate)
    except SignatureError as exc:
        raise UsageError(f"invalid predicate: {exc}") from None


def attest(target: Target, subject: Descriptor, name: str, signer: Signer, predicate_type: str,
           predicate: Mapping[str, Any], *, created: datetime) -> Stored:
    """Sign ``predicate`` about ``subject`` and store it as a referrer; returns what was stored.

    ``predicate_type`` is ``provenance``, ``evaluation`` or any URI. Provenance and evaluation predicates
    are validated before signing (a malformed one is refused, not signed).
    """
    uri = _statement.predicate_type_uri(predicate_type)
    if uri == SIGNATURE_TYPE:
        raise UsageError(SIGN_WITH_SIGN)
    _check_predicate(uri, predicate)
    return attach_record(target, subject, name, signer, uri, predicate, created=created)


def has_default_predicate(predicate_type: str) -> bool:
    """True for the types :func:`default_predicate` can build (provenance, evaluation)."""
    return _statement.predicate_type_uri(predicate_type) in DEFAULT_PREDICATE_TYPES


def default_predicate(target: Target, subject: Descriptor, predicate_type: str, *, created: datetime,
                      workdir: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """The predicate ``attest`` makes when none is given, from the model's metadata.

    Provenance adds the git state of ``workdir`` and the CI variables of ``env``
    (:mod:`modelcrate.provenance`); evaluation takes the metadata's metrics.
    """
    uri = _statement.predicate_type_uri(predicate_type)
    if uri not in DEFAULT_PREDICATE_TYPES:
        raise UsageError(f"{predicate_type} has no default predicate: give one")
    view = read_subject(target, subject)
    metadata = (view.metadata if view is not None else None) or {}
    if uri == _statement.SLSA_PROVENANCE_V1:
        return _provenance.build_provenance(metadata, git=_provenance.git_facts(workdir),
                                            ci=_provenance.ci_facts(env), tools=_provenance.tool_versions())
    return evaluation_from_metadata(metadata, created=created)


def evaluation_from_metadata(metadata: Mapping[str, Any] | None, *, created: datetime) -> dict[str, Any]:
    """An evaluation predicate from the metadata's ``metrics`` (each with a dataset); UsageError if there are none."""
    metrics = [{k: m[k] for k in ("name", "value", "dataset", "split") if k in m}
               for m in (metadata or {}).get("metrics") or [] if isinstance(m, Mapping)]
    if not metrics:
        raise UsageError(NO_METRICS)
    return _predicates.evaluation(metrics, created=created_text(created))
