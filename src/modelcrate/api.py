"""The public Python API: the operations the CLI runs, addressed by reference strings.

Each function takes plain values and an optional :class:`~modelcrate.config.Config` (default: resolved
from the environment here, at the edge, and passed down), and returns one of the small records of
:mod:`modelcrate.results`. References resolve by the CLI's rules:

* ``pack``, ``inspect``, ``unpack``, ``tag``, ``list_models``, ``remove`` work on the local store, whose
  names may carry a registry host (``localhost:5000/team/bert:1.0`` is a local name after a pull);
* ``push``, ``pull``, ``list_tags``, ``catalog``, ``login`` talk to the registry the reference names;
* ``copy``, ``resolve``, ``sign``, ``verify``, ``verify_attestation``, ``attest``, ``discover`` use the
  registry when the reference names one and the local store otherwise (``local=True`` forces the store).

Heavy modules (signing, HTTP, packing) are imported by the functions that need them, so
``import modelcrate`` stays cheap.

>>> import modelcrate
>>> modelcrate.pack("examples/tiny-classifier", "tiny-classifier:1.0.0").digest   # doctest: +SKIP
'sha256:…'
>>> modelcrate.inspect("tiny-classifier:1.0.0").metadata["name"]                 # doctest: +SKIP
'tiny-classifier'
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._internal.inputs import MAX_SMALL_FILE, read_regular_file
from .config import Config
from .content.layout import LocalRepository, LocalStore, split_ref_name
from .content.target import Target
from .errors import ModelcrateError, NotFound, UsageError
from .format.descriptor import Descriptor
from .format.mediatypes import ANN_REF_NAME
from .format.model import ModelView, read_model
from .format.reference import DEFAULT_TAG, Reference, is_reserved_tag, validate_user_tag
from .results import (Attested, Discovery, Listed, LoginResult, Packed, Resolved, Signed, TransferResult,
                      Unpacked, Verification)
from .targets import Targets, as_reference, resolve as _resolve_in

if TYPE_CHECKING:
    from .format.diff import ModelDiff
    from .graphcopy import Progress
    from .importers.detect import Written
    from .unpacking import Check
    from .index.search import Filters as SearchFilters, Match as SearchMatch
    from .lineage_graph import LineageNode
    from .lifecycle.versions import Overwrite
    from .signatures import Policy, Signer, Verifier

PathLike = str | os.PathLike[str]


def _config(config: Config | None) -> Config:
    return config if config is not None else Config.from_env()


# ---- the local store ------------------------------------------------------------------------------
def open_store(config: Config | None = None) -> LocalStore:
    """The local store the configuration names (created on first use)."""
    return LocalStore(_config(config).home)


def parse_local(ref: str) -> Reference:
    """Parse a reference for the local store; the tag defaults to ``latest`` when no digest is given."""
    return as_reference(ref)


def resolve_local(ref: str, config: Config | None = None) -> tuple[Reference, LocalRepository, Descriptor]:
    """Parse ``ref`` and resolve it in the local store: the parsed reference, its repository, the manifest."""
    r = parse_local(ref)
    repo = open_store(config).repository(r.name)
    return r, repo, _resolve_in(repo, r)


def init(directory: PathLike, *, name: str | None = None, force: bool = False,
         follow_external_symlinks: bool = False, formats: list[str] | None = None) -> Written:
    """Write ``DIR/modelcrate.yaml`` from what the directory says about itself (a Kitfile, a modctl
    Modelfile, an MLflow MLmodel, a Hugging Face card and config.json, weight headers), classifying its
    files; refuse to overwrite unless ``force``. ``formats`` limits (and requires) the sources read."""
    from .importers import detect

    return detect.write(directory, name=name, force=force, formats=formats,
                        follow_external_symlinks=follow_external_symlinks)


def pack(directory: PathLike, ref: str | None = None, *, modelfile: str | None = None,
         config: Config | None = None, concurrency: int | None = None,
         follow_external_symlinks: bool = False) -> Packed:
    """Pack a model directory into the local store under ``ref`` (``name[:tag]``; default: ``name:version``
    from modelcrate.yaml), ``concurrency`` files at a time (default: the config's). The same files and
    metadata always give the same digest."""
    from . import packing as _pack

    cfg = _config(config)
    p = _pack.plan(directory, modelfile, source_date_epoch=cfg.source_date_epoch,
                   follow_external_symlinks=follow_external_symlinks)
    r = parse_local(ref if ref is not None else _yaml_reference(p.metadata))
    if r.digest:
        raise UsageError("pack takes a name and tag, not a digest: the digest is the result")
    validate_user_tag(r.tag or DEFAULT_TAG)
    store = open_store(cfg)
    with store.writing():
        result = _pack.pack(p, store.repository(r.name), r.tag, concurrency=concurrency or cfg.concurrency)
    return Packed(str(r), result.descriptor, read_model(result.manifest))


def _yaml_reference(metadata: Mapping[str, Any]) -> str:
    """``name:version`` from modelcrate.yaml, the reference ``pack`` uses without one."""
    ref = f"{metadata['name']}:{metadata['version']}"
    try:
        Reference.parse(ref)
    except ModelcrateError as exc:
        raise UsageError(f"modelcrate.yaml's name:version {ref!r} is not a reference ({exc})",
                         hint="pass -t NAME:TAG") from None
    return ref


def inspect(ref: str, *, config: Config | None = None) -> ModelView:
    """The parsed model at local ``ref``: files, sizes, digests, metadata (``.manifest.raw`` holds the bytes).
    KitOps ModelKits and other tools' ModelPack artifacts are read too (see :mod:`modelcrate.foreign`)."""
    from .unpacking import fetch_model

    _r, repo, desc = resolve_local(ref, config)
    return fetch_model(repo, desc.digest)


def unpack(ref: str, out_dir: PathLike, *, kinds: tuple[str, ...] = (), include: tuple[str, ...] = (),
           force: bool = False, model_signature: PathLike | None = None, config: Config | None = None,
           check: Check | None = None) -> Unpacked:
    """Write the model's files into ``out_dir`` (see :mod:`modelcrate.unpacking` for the safety rules).

    With ``model_signature``, the OpenSSF model-signing bundle stored by :func:`sign` is also written to
    that file; it is found (or refused) before any file is written. ``check`` sees the verified files
    before they are put in place (``scan.UnpackGate`` scans them; raising refuses the model)."""
    from . import signatures as _signatures, unpacking as _unpack

    _r, repo, desc = resolve_local(ref, config)
    signature = None
    if model_signature is not None:
        _signatures.check_model_signature_request(kinds, include)
        _signatures.check_signature_path(model_signature, force=force)
        signature = _signatures.model_signature(repo, desc)
    result = _unpack.unpack(repo, desc.digest, out_dir, kinds=kinds, include=include, force=force, check=check)
    if signature is not None and model_signature is not None:
        _signatures.save_model_signature(signature, model_signature, force=force)
    return Unpacked(str(out_dir), tuple(result.files), signature)


def model_signature(ref: str, config: Config | None = None) -> Any:
    """The OpenSSF model-signing bundle stored with the local model at ``ref``
    (a :class:`modelcrate.signatures.ModelSignature`)."""
    from . import signatures as _signatures

    _r, repo, desc = resolve_local(ref, config)
    return _signatures.model_signature(repo, desc)


def tag(src: str, dst: str, *, config: Config | None = None, force: Overwrite | None = None) -> Descriptor:
    """Point local reference ``dst`` at what ``src`` names (the content is shared, not copied). A version
    tag naming another digest is refused unless ``force`` (see :mod:`modelcrate.lifecycle.versions`)."""
    from .graphcopy import CopyOptions, extended_copy
    from .lifecycle.versions import guard_version_tag, record_overwrite

    r, repo, desc = resolve_local(src, config)
    d = parse_local(dst)
    if d.digest or not d.tag:
        raise UsageError(f"{dst}: the destination needs a tag, not a digest")
    validate_user_tag(d.tag)
    store = repo.store
    dst_repo = store.repository(d.name)
    old = guard_version_tag(repo, dst_repo, d.tag, desc, force)
    if d.name != r.name:
        # Referrers (signatures, attestations) are indexed per repository: carry them to the new name,
        # as a copy would. The blobs are shared, so this only writes the new name's referrers index.
        with store.writing():
            extended_copy(repo, dst_repo, desc, CopyOptions())
    if old and force:  # recorded before the tag moves
        with store.writing():
            record_overwrite(dst_repo, desc, d.name, d.tag, old, force)
    dst_repo.tag(desc, d.tag)
    return desc


def remove(ref: str, *, config: Config | None = None) -> Descriptor:
    """Remove a tag from the local store and free content nothing else uses."""
    r = parse_local(ref)
    store = open_store(config)
    if r.digest:
        removed = None
        for e in store.entries():
            name, _tag, _d = split_ref_name(e.annotation(ANN_REF_NAME) or "")
            if name == r.name and e.digest == r.digest:
                removed = store.remove_ref(e.annotation(ANN_REF_NAME) or "")
        if removed is None:
            raise NotFound(f"{r} is not in the local store")
    else:
        removed = store.remove_ref(f"{r.name}:{r.tag}")
    store.gc()
    return removed


def list_models(*, config: Config | None = None, show_reserved: bool = False) -> list[Listed]:
    """Every tagged model in the local store, sorted by name and tag; the reserved tags (referrers,
    history heads) only with ``show_reserved``."""
    store = open_store(config)
    out = []
    for e in store.entries():
        name, tag_, _d = split_ref_name(e.annotation(ANN_REF_NAME) or "")
        if tag_ is not None and not show_reserved and is_reserved_tag(tag_):
            continue
        try:
            view = read_model(store.read_small(e))
        except ModelcrateError:  # a non-model manifest (or a damaged blob) still gets listed
            out.append(Listed(name, tag_, e.digest, 0, None, None))
            continue
        meta = view.metadata or {}
        out.append(Listed(name, tag_, e.digest, view.total_size, meta.get("created"), meta.get("version")))
    return sorted(out, key=lambda x: (x.name, x.tag or ""))


# ---- registries ----------------------------------------------------------------------------------
def push(ref: str, directory: PathLike | None = None, *, modelfile: str | None = None,
         config: Config | None = None, concurrency: int | None = None,
         progress: Progress | None = None, follow_external_symlinks: bool = False,
         force: Overwrite | None = None) -> TransferResult:
    """Push the local-store model ``ref`` (``HOST/NAME[:TAG][@DIGEST]``) to its registry; or, with
    ``directory``, pack that directory on the fly and stream it there (the local store is not used).
    A version tag naming another digest is refused unless ``force``."""
    from . import transfer

    cfg = _config(config)
    if directory is not None:
        return transfer.push_dir(directory, ref, config=cfg, modelfile=modelfile, concurrency=concurrency,
                                 progress=progress, follow_external_symlinks=follow_external_symlinks,
                                 force=force)
    if modelfile:
        raise UsageError("a modelfile goes with a directory to push")
    return transfer.push(ref, config=cfg, concurrency=concurrency, progress=progress, force=force)


def pull(ref: str, dest: PathLike | None = None, *, key: PathLike | Verifier | None = None,
         policy: PathLike | Policy | None = None, force: bool = False, kinds: tuple[str, ...] = (),
         include: tuple[str, ...] = (), model_signature: PathLike | None = None, config: Config | None = None,
         concurrency: int | None = None, progress: Progress | None = None, check: Check | None = None
         ) -> TransferResult:
    """Pull ``HOST/NAME[:TAG][@DIGEST]`` into the local store, or with ``dest`` straight into that
    directory (as ``pull -o``: every path checked, nothing of a refused model left behind).

    ``key`` (a public key PEM file, or a verifier) or ``policy`` (a policy file, or a loaded policy) refuses
    the model before a byte lands unless the registry holds signatures that satisfy it; a policy with
    ``formats: {deny_unsafe_pickle: true}`` also refuses unsafe pickles, before the files are placed
    (``dest``) or the model is tagged (the local store). ``force``,
    ``kinds``, ``include``, ``model_signature`` and ``check`` (as :func:`unpack`'s) go with ``dest``."""
    from . import transfer

    if dest is None and check is not None:
        raise UsageError("a check of the written files goes with -o DIR")
    if dest is None and (force or kinds or include or model_signature):
        raise UsageError("--force, --filter, --include and --model-signature go with -o DIR")
    cfg = _config(config)
    verify = _verifier(key, policy, what="pull")
    concurrency = concurrency or cfg.concurrency
    deny = getattr(verify, "deny_unsafe_pickle", False)  # the policy's formats rule
    if dest is None:
        from .scan import deny_stored

        return transfer.pull(ref, config=cfg, concurrency=concurrency, progress=progress,
                             verify=verify, check=deny_stored if deny else None)
    if deny:
        check = _denying(check)
    return transfer.pull_to_dir(ref, dest, force=force, kinds=kinds, include=include, config=cfg,
                                concurrency=concurrency, progress=progress, verify=verify,
                                model_signature=model_signature, check=check)


def _denying(check: Check | None) -> Check:
    """``check`` made to refuse unsafe pickles: a scan gate is switched to deny, anything else runs after
    a denying gate."""
    from .scan import UnpackGate

    if isinstance(check, UnpackGate):
        check.deny = True
        return check
    gate = UnpackGate(deny=True)
    if check is None:
        return gate

    def both(staged: Any) -> None:
        gate(staged)
        check(staged)

    return both


def copy(src: str, dst: str, *, config: Config | None = None,
         concurrency: int | None = None, progress: Progress | None = None,
         force: Overwrite | None = None) -> TransferResult:
    """Copy a model with its signatures between registries, repositories or the local store (a name
    without a registry). On one registry, blobs are mounted instead of moved. A version tag naming
    another digest is refused unless ``force``."""
    from . import transfer

    return transfer.copy_ref(src, dst, config=_config(config), concurrency=concurrency,
                             progress=progress, force=force)


def list_tags(repo: str, *, show_referrers: bool = False, config: Config | None = None) -> list[str]:
    """Tags of the registry repository ``HOST/NAME``, sorted (signature tags hidden unless asked for)."""
    from . import transfer

    return transfer.list_tags(repo, config=_config(config), show_referrers=show_referrers)


def catalog(registry: str, *, config: Config | None = None) -> list[str]:
    """Repositories of the registry ``HOST[:PORT]``, sorted."""
    from . import transfer

    return transfer.catalog(registry, config=_config(config))


def iter_catalog(registry: str, *, config: Config | None = None) -> Iterator[str]:
    """Repositories of ``HOST[:PORT]`` in the registry's order, page by page (nothing is held)."""
    from . import transfer

    return transfer.iter_catalog(registry, config=_config(config))


def login(registry: str, username: str, password: str, *, config: Config | None = None) -> LoginResult:
    """Check the credentials against ``registry``, then store them in the docker config."""
    from . import transfer

    return transfer.login(registry, username, password, config=_config(config))


def logout(registry: str, *, config: Config | None = None) -> bool:
    """Forget the stored credentials for ``registry``; False if there were none."""
    from . import transfer

    return transfer.logout(registry, config=_config(config))


# ---- references, signatures and attestations -------------------------------------------------------
@contextmanager
def subject(ref: str, *, write: bool, local: bool = False, config: Config | None = None) -> Iterator[tuple[str, Target, Descriptor]]:
    """(repository name, open Target, manifest descriptor) for ``ref``: a registry when ``ref`` names
    one (unless ``local``), else the local store; the Target is closed on exit."""
    r = as_reference(ref)
    with Targets(_config(config)) as targets:
        target = targets.open(r, write=write, local=local)
        yield r.name, target, _resolve_in(target, r)


def resolve(ref: str, *, local: bool = False, config: Config | None = None) -> Resolved:
    """The manifest ``ref`` names. With a digest the digest wins; with ``TAG@DIGEST`` a tag that names
    another manifest raises :class:`~modelcrate.errors.DigestMismatch`, locally and on registries alike."""
    with subject(ref, write=False, local=local, config=config) as (name, _target, desc):
        return Resolved(ref, name, desc)


def sign(ref: str, signer: Signer, *, cosign_legacy: bool = False, model_signing: bool = True,
         created: datetime | None = None, local: bool = False, config: Config | None = None) -> Signed:
    """Sign the manifest ``ref`` names with ``signer`` (e.g. ``signatures.KeySigner.from_pem(...)``): a
    Sigstore bundle as a referrer, plus the OpenSSF model-signing bundle and, with ``cosign_legacy``,
    cosign's ``.sig`` tag."""
    from . import signatures as _signatures

    with subject(ref, write=True, local=local, config=config) as (name, target, desc):
        result = _signatures.sign(target, desc, name, signer, created=created or datetime.now(UTC),
                                  cosign_legacy=cosign_legacy, model_signing=model_signing)
    return Signed(ref, result.digest, signer.description, result.stored, result.notes)


def verify(ref: str, verifier: Verifier | Policy | None = None, *, key: PathLike | None = None,
           policy: PathLike | None = None, local: bool = False, config: Config | None = None) -> Verification:
    """Verify the signatures of the manifest ``ref`` names against ``verifier`` (or the public key file
    ``key``, or the policy file ``policy``); raise unless one passes (or the policy is met)."""
    from . import signatures as _signatures

    chosen = _one_verifier(verifier, key, policy)
    with subject(ref, write=False, local=local, config=config) as (name, target, desc):
        if isinstance(chosen, _signatures.Policy):
            found = _signatures.check_policy(target, desc, name, chosen).all()
        else:
            found = _signatures.verify(target, desc, name, chosen)
    return Verification(ref, name, desc.digest, tuple(found))


def verify_attestation(ref: str, predicate_type: str, verifier: Verifier | Policy | None = None, *,
                       key: PathLike | None = None, policy: PathLike | None = None, local: bool = False,
                       config: Config | None = None) -> Verification:
    """Verify the attestations of ``predicate_type`` (``provenance``, ``evaluation`` or a URI) of ``ref``;
    with a policy, any of its signers is accepted."""
    from . import signatures as _signatures
    from .signing import statement as _statement

    chosen = _one_verifier(verifier, key, policy)
    if isinstance(chosen, _signatures.Policy):
        chosen = chosen.signers
    uri = _statement.predicate_type_uri(predicate_type)
    with subject(ref, write=False, local=local, config=config) as (name, target, desc):
        found = _signatures.verify_attestation(target, desc, name, chosen, uri)
    return Verification(ref, name, desc.digest, tuple(found))


def attest(ref: str, predicate_type: str, signer: Signer, *, predicate: Mapping[str, Any] | None = None,
           created: datetime | None = None, workdir: PathLike | None = None, env: Mapping[str, str] | None = None,
           local: bool = False, config: Config | None = None) -> Attested:
    """Attach a signed in-toto attestation about the manifest ``ref`` names.

    Without ``predicate``, ``provenance`` is generated from the model's lineage metadata, the git state of
    ``workdir`` (default: the current directory) and the CI variables of ``env`` (default: this process's
    environment), and ``evaluation`` from the metadata's metrics; other types need a predicate."""
    from . import signatures as _signatures
    from .signing import statement as _statement

    uri = _statement.predicate_type_uri(predicate_type)
    if predicate is None and uri not in (_statement.SLSA_PROVENANCE_V1, _statement.EVALUATION_V1):
        raise UsageError(f"predicate type {predicate_type} needs a predicate", hint="pass --predicate FILE")
    when = created or datetime.now(UTC)
    with subject(ref, write=True, local=local, config=config) as (name, target, desc):
        if predicate is None:
            predicate = _default_predicate(uri, target, desc, when, Path(workdir or Path.cwd()),
                                           os.environ if env is None else env)
        stored = _signatures.attest(target, desc, name, signer, uri, predicate, created=when)
    return Attested(ref, desc.digest, signer.description, uri, stored)


def _default_predicate(uri: str, target: Target, desc: Descriptor, created: datetime, workdir: Path,
                       env: Mapping[str, str]) -> dict[str, Any]:
    from . import provenance, signatures as _signatures
    from .signing import statement as _statement

    view = _signatures.read_subject(target, desc)
    metadata = (view.metadata if view is not None else None) or {}
    if uri == _statement.SLSA_PROVENANCE_V1:
        return provenance.build_provenance(metadata, git=provenance.git_facts(workdir),
                                           ci=provenance.ci_facts(env), tools=provenance.tool_versions())
    return _signatures.evaluation_from_metadata(metadata, created=created)


def discover(ref: str, *, local: bool = False, config: Config | None = None) -> Discovery:
    """The signatures, attestations and other referrers of ``ref`` as a tree (claims, not verified)."""
    from . import signatures as _signatures

    with subject(ref, write=False, local=local, config=config) as (name, target, desc):
        nodes = _signatures.discover(target, desc)
    return Discovery(ref, name, desc.digest, tuple(nodes))


def search(scope: str | None = None, *, where: str | None = None, filters: SearchFilters | None = None,
           local: bool = False, sort: str | None = None, limit: int | None = None, offline: bool = False,
           repositories: list[str] | None = None, index: PathLike | None = None, recheck: bool = False,
           concurrency: int = 8, config: Config | None = None) -> list[SearchMatch]:
    """Models in ``scope`` (``HOST[:PORT][/PREFIX]``, or with ``local`` a local-store name prefix) that match
    ``where`` (the ``--where`` language, spec/search.md) and ``filters``, from the search index at ``index``
    (default: ``$XDG_CACHE_HOME/modelcrate/index.sqlite``), refreshed first unless ``offline``."""
    from .index import db, search as _search

    path = Path(index) if index is not None else db.default_path(os.environ)
    return _search.search(scope, local=local, where=where, filters=filters, sort=sort, limit=limit,
                          offline=offline, repositories=repositories, index=path, config=_config(config),
                          concurrency=concurrency, recheck=recheck)


def diff(old: str, new: str, *, config: Config | None = None) -> ModelDiff:
    """What changed from model ``old`` to ``new`` (each in a registry or the local store): metadata field by
    field, files by digest with size deltas, metric deltas, stages and referrers. Reads manifests only."""
    from . import compare

    return compare.diff(old, new, config=_config(config))


def lineage(ref: str, *, follow: bool = True, local: bool = False, key: PathLike | Verifier | None = None,
            config: Config | None = None) -> LineageNode:
    """What ``ref`` was built from: base models (followed through their own metadata where reachable) and
    datasets; with ``key``, each model's SLSA provenance attestations are verified and shown too."""
    from . import lineage_graph as _lineage

    verifier = _verifier(key, None, what="lineage")
    return _lineage.lineage(ref, config=_config(config), follow=follow, local=local,
                            verifier=verifier)  # type: ignore[arg-type]


def _verifier(key: PathLike | Verifier | None, policy: PathLike | Policy | None, *, what: str
              ) -> Verifier | Policy | None:
    """The verifier ``key`` or ``policy`` names (paths are read here); at most one of them."""
    if key is not None and policy is not None:
        raise UsageError(f"{what} takes a key or a policy, not both")
    from . import signatures as _signatures

    if isinstance(key, (str, os.PathLike)):
        return _signatures.KeyVerifier.from_pem(read_regular_file(key, MAX_SMALL_FILE, "the key"))
    if isinstance(policy, (str, os.PathLike)):
        return _signatures.load_policy(policy)
    return key if key is not None else policy


def _one_verifier(verifier: Verifier | Policy | None, key: PathLike | None, policy: PathLike | None
                  ) -> Verifier | Policy:
    given = [v for v in (verifier, key, policy) if v is not None]
    if len(given) != 1:
        raise UsageError("verify with exactly one of a verifier, a key or a policy")
    return verifier if verifier is not None else _verifier(key, policy, what="verify")  # type: ignore[return-value]


__all__ = ["attest", "catalog", "copy", "diff", "discover", "init", "inspect", "iter_catalog", "lineage",
           "list_models", "list_tags", "login", "logout", "model_signature", "open_store", "pack", "parse_local", "pull", "push", "remove",
           "resolve", "resolve_local", "search", "sign", "subject", "tag", "unpack", "verify", "verify_attestation"]
