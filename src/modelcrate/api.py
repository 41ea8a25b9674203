"""The public Python API: the operations the CLI runs, addressed by reference strings.

Each function takes plain values and an optional :class:`~modelcrate.config.Config` (default: resolved
from the environment here, at the edge, and passed down), and returns one of the small records of
:mod:`modelcrate.results`. References resolve by the CLI's rules:

* ``pack``, ``unpack``, ``list_models``, ``remove``, ``prune``, ``disk_usage`` work on the local store,
  whose names may carry a registry host (``localhost:5000/team/bert:1.0`` is a local name after a pull);
* ``inspect``, ``digest``, ``manifest`` and ``tag`` read the local store when the name is there, else the
  registry the reference names (``remote=True`` always asks the registry, ``local=True`` never does);
  they read the manifest only, never a model's weights. ``delete`` removes a manifest from a registry;
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._internal.inputs import MAX_SMALL_FILE, read_regular_file
from .config import Config
from .content.layout import LocalRepository, LocalStore, split_ref_name
from .content.target import Target
from .content.verify import read_all
from .errors import ModelcrateError, NotFound, UsageError
from .format.descriptor import Descriptor
from .format.mediatypes import ANN_REF_NAME, MAX_MANIFEST_BYTES
from .format.model import read_model
from .format.reference import DEFAULT_TAG, Reference, is_reserved_tag, validate_user_tag
from .results import (Attested, Deleted, Discovery, DiskUsage, Pruned, Initialized, Inspected, Listed, LoginResult, Packed,
                      Removed, Resolved, Signed, Tagged, TransferResult, Unpacked, Verification)
from .targets import Targets, as_reference, resolve as _resolve_in

if TYPE_CHECKING:
    from .format.diff import ModelDiff
    from .graphcopy import Progress
    from .unpacking import Check
    from .index.search import Filters as SearchFilters, Match as SearchMatch
    from .lineage_graph import LineageNode
    from .lifecycle.gate import Gate
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
         follow_external_symlinks: bool = False, formats: list[str] | None = None) -> Initialized:
    """Write ``DIR/modelcrate.yaml`` from what the directory says about itself (a Kitfile, a modctl
    Modelfile, an MLflow MLmodel, a Hugging Face card and config.json, weight headers), classifying its
    files; refuse to overwrite unless ``force``, and refuse a directory with no files (there would be
    nothing to pack). ``formats`` limits (and requires) the sources read."""
    from .importers import detect

    return detect.write(directory, name=name, force=force, formats=formats,
                        follow_external_symlinks=follow_external_symlinks)


def pack(directory: PathLike, ref: str | None = None, *, modelfile: str | None = None,
         config: Config | None = None, concurrency: int | None = None,
         follow_external_symlinks: bool = False, progress: Progress | None = None,
         force: Overwrite | None = None) -> Packed:
    """Pack a model directory into the local store under ``ref`` (``name[:tag]``; default: ``name:version``
    from modelcrate.yaml), ``concurrency`` files at a time (default: the config's). The same files and
    metadata always give the same digest. A version tag naming another digest is refused unless ``force``
    (see :mod:`modelcrate.lifecycle.versions`); the content stays, untagged, for `prune`."""
    from . import packing as _pack

    cfg = _config(config)
    p = _pack.plan(directory, modelfile, source_date_epoch=cfg.source_date_epoch,
                   follow_external_symlinks=follow_external_symlinks)
    r = parse_local(ref if ref is not None else _yaml_reference(p.metadata))
    if r.digest:
        raise UsageError("pack takes a name and tag, not a digest: the digest is the result")
    validate_user_tag(r.tag or DEFAULT_TAG)
    store = open_store(cfg)
    repo = store.repository(r.name)
    with store.writing():
        result = _pack.pack(p, repo, None, concurrency=concurrency or cfg.concurrency, progress=progress)
        if r.tag:
            _tag_packed(repo, result.descriptor, r.name, r.tag, p.metadata, force)
    return Packed(str(r), result.descriptor, read_model(result.manifest))


def _tag_packed(repo: LocalRepository, desc: Descriptor, name: str, tag: str, metadata: Mapping[str, Any],
                force: Overwrite | None) -> None:
    """Tag what pack stored, last. A tag that names other content goes through the version-tag rule,
    whose module (signing, the lifecycle) loads only then, so a plain pack stays light."""
    from .content.tagupdate import current

    existing = current(repo, tag)
    if existing is None or existing.digest == desc.digest:
        repo.tag(desc, tag)
        return
    from .lifecycle.versions import check_version_tag, place_tag

    place_tag(repo, desc, name, tag, check_version_tag(repo, tag, desc, metadata, force=force), force)


def _yaml_reference(metadata: Mapping[str, Any]) -> str:
    """``name:version`` from modelcrate.yaml, the reference ``pack`` uses without one."""
    ref = f"{metadata['name']}:{metadata['version']}"
    try:
        Reference.parse(ref)
    except ModelcrateError as exc:
        raise UsageError(f"modelcrate.yaml's name:version {ref!r} is not a reference ({exc})",
                         hint="pass -t NAME:TAG") from None
    return ref


@contextmanager
def reading(ref: str, *, local: bool = False, remote: bool = False, config: Config | None = None
            ) -> Iterator[tuple[Reference, Target, Descriptor, bool]]:
    """(reference, Target, manifest, whether it is a registry) for a read by ``ref``: the local store when
    the name is there (or ``local``), else the registry ``ref`` names (always with ``remote``)."""
    if local and remote:
        raise UsageError("choose the local store or the registry, not both")
    r = as_reference(ref)
    if remote and r.registry is None:
        raise UsageError(f"{ref} names no registry", hint=f"write it as HOST[:PORT]/{r.name}")
    with Targets(_config(config)) as targets:
        if not remote:
            target = targets.open(r, write=False, local=True)
            try:
                found: Descriptor | None = _resolve_in(target, r)
            except NotFound:
                if local or r.registry is None:
                    raise
                found = None
            if found is not None:
                yield r, target, found, False
                return
        target = targets.open(r, write=False)
        yield r, target, _resolve_in(target, r), True


def _manifest_bytes(target: Target, desc: Descriptor) -> bytes:
    with target.fetch(desc) as stream:
        return read_all(stream, desc, MAX_MANIFEST_BYTES)


def inspect(ref: str, *, local: bool = False, remote: bool = False, config: Config | None = None,
            deployments: bool = False, verifier: Verifier | None = None, gate: Gate | None = None) -> Inspected:
    """The parsed model ``ref`` names: files, sizes, digests, metadata (``.manifest.raw`` holds the bytes).
    Read from its manifest alone, in the local store or on the registry (see :func:`reading`). KitOps
    ModelKits and other tools' ModelPack artifacts are read too (see :mod:`modelcrate.foreign`). With
    ``deployments``, also its deployment records, verified with ``verifier`` or ``gate``'s signers
    (without either, only how many are claimed: see :func:`modelcrate.tracking.deployments.of_model`)."""
    from .unpacking import fetch_model

    with reading(ref, local=local, remote=remote, config=config) as (r, target, desc, is_remote):
        view = fetch_model(target, desc)
        found = None
        if deployments:
            from .lifecycle.gate import NoPolicy
            from .tracking.deployments import of_model

            found = of_model(target, desc, r.name, gate or NoPolicy(), verifier)
        return Inspected(str(r) if r.registry or r.digest else ref, view, is_remote, found)


def digest(ref: str, *, local: bool = False, remote: bool = False, config: Config | None = None) -> Resolved:
    """The manifest ``ref`` names, resolved as :func:`inspect` does (for a registry: one ``HEAD``)."""
    with reading(ref, local=local, remote=remote, config=config) as (r, _target, desc, _remote):
        return Resolved(f"{r.name}@{desc.digest}", r.name, desc)


def manifest(ref: str, *, local: bool = False, remote: bool = False, config: Config | None = None) -> bytes:
    """The manifest bytes ``ref`` names, exactly as stored and checked against their digest."""
    with reading(ref, local=local, remote=remote, config=config) as (_r, target, desc, _remote):
        return _manifest_bytes(target, desc)


def delete(ref: str, *, config: Config | None = None) -> Deleted:
    """Delete the manifest ``ref`` names from its registry (``DELETE`` by digest: every tag naming that
    manifest goes with it, as the distribution spec defines). Blobs are left to the registry's GC."""
    from .content.remote.deletion import delete_manifest

    r = as_reference(ref)
    if r.registry is None:
        raise UsageError(f"{ref} names no registry; delete works on registries",
                         hint="for the local store use `modelcrate rm`")
    with Targets(_config(config)) as targets:
        target = targets.open(r, write=True)
        desc = _resolve_in(target, r)
        delete_manifest(target, desc)  # type: ignore[arg-type]
    return Deleted(f"{r.name}@{desc.digest}", desc.digest)


def unpack(ref: str, out_dir: PathLike, *, kinds: tuple[str, ...] = (), include: tuple[str, ...] = (),
           force: bool = False, model_signature: PathLike | None = None, config: Config | None = None,
           check: Check | None = None, progress: Progress | None = None) -> Unpacked:
    """Write the model's files into ``out_dir`` (see :mod:`modelcrate.unpacking` for the safety rules).

    With ``model_signature``, the OpenSSF model-signing bundle stored by :func:`sign` is also written to
    that file; it is found (or refused) before any file is written. ``check`` sees the verified files
    before they are put in place (``scan.UnpackGate`` scans them; raising refuses the model)."""
    from . import signatures as _signatures, unpacking as _unpack

    r, repo, desc = resolve_local(ref, config)
    signature = None
    if model_signature is None:
        if progress is not None:
            from .transfer import Watched  # reports each file's bytes as they are read

            repo = Watched(repo, progress)  # type: ignore[assignment]
        result = _unpack.unpack(repo, desc.digest, out_dir, kinds=kinds, include=include, force=force, check=check)
    else:
        result, signature = _signatures.unpack_with_signature(repo, desc, out_dir, model_signature, force=force,
                                                              kinds=kinds, include=include, check=check)
    return Unpacked(str(out_dir), tuple(result.files), signature, reference=str(r), digest=desc.digest,
                    model_signature_path=None if model_signature is None else str(model_signature))


def model_signature(ref: str, config: Config | None = None) -> Any:
    """The OpenSSF model-signing bundle stored with the local model at ``ref``
    (a :class:`modelcrate.signatures.ModelSignature`)."""
    from . import signatures as _signatures

    _r, repo, desc = resolve_local(ref, config)
    return _signatures.model_signature(repo, desc)


def tag(src: str, dst: str, *, local: bool = False, remote: bool = False, config: Config | None = None,
        force: Overwrite | None = None) -> Tagged:
    """Point ``dst`` at what ``src`` names. In the local store (when ``src`` is there, or ``local``) the
    content is shared, not copied. On a registry (``src`` not in the store, or ``remote``) the manifest is
    tagged again without pulling: in the same repository by one ``PUT``; elsewhere by a copy that mounts
    the blobs on the same registry. Signatures come along to a new name either way. A version tag naming
    another digest is refused unless ``force`` (see :mod:`modelcrate.lifecycle.versions`), on either side."""
    with reading(src, local=local, remote=remote, config=config) as (r, target, desc, is_remote):
        d = parse_local(dst)
        if d.digest or not d.tag:
            raise UsageError(f"{dst}: the destination needs a tag, not a digest")
        validate_user_tag(d.tag)
        if is_remote:
            if d.registry is None:
                raise UsageError(f"{dst} names no registry; tagging on {r.registry} needs HOST/NAME:TAG",
                                 hint="to keep a local copy, use `modelcrate pull` then `modelcrate tag`")
            if d.name != r.name:
                copy(f"{r.name}@{desc.digest}", dst, config=config, force=force)
            else:
                from .lifecycle.versions import guard_version_tag, place_tag

                with Targets(_config(config)) as targets:
                    repo = targets.open(d, write=True)
                    place_tag(repo, desc, d.name, d.tag, guard_version_tag(repo, repo, d.tag, desc, force), force)
            return Tagged(str(d), src, desc)
    _tag_local(r, desc, d, config, force)
    return Tagged(str(d), src, desc)


def _tag_local(r: Reference, desc: Descriptor, d: Reference, config: Config | None,
               force: Overwrite | None) -> None:
    from .graphcopy import CopyOptions, extended_copy
    from .lifecycle.versions import guard_version_tag, record_overwrite

    assert d.tag is not None
    store = open_store(config)
    repo, dst_repo = store.repository(r.name), store.repository(d.name)
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


def remove(ref: str, *, config: Config | None = None) -> Removed:
    """Remove a tag from the local store and free content nothing else uses. ``NAME@DIGEST`` removes every
    tag of ``NAME`` naming that manifest; the result lists them."""
    r = parse_local(ref)
    store = open_store(config)
    if r.digest:
        names = [e.annotation(ANN_REF_NAME) or "" for e in store.entries() if e.digest == r.digest]
        mine = [n for n in names if split_ref_name(n)[0] == r.name]
        if not mine:
            raise NotFound(f"{r} is not in the local store")
        removed = [store.remove_ref(n) for n in mine][0]
        untagged = tuple(n for n in mine if split_ref_name(n)[1] is not None)
    else:
        removed = store.remove_ref(f"{r.name}:{r.tag}")
        untagged = (f"{r.name}:{r.tag}",)
    store.gc()
    return Removed(ref, removed.digest, untagged)


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


def prune(*, untagged: bool = False, dry_run: bool = False, config: Config | None = None) -> Pruned:
    """Free local-store space: blobs no tag reaches and leftovers of killed runs; with ``untagged`` also
    the manifests kept without a tag (pulled by digest). ``dry_run`` only reports."""
    from . import housekeeping

    return housekeeping.prune(open_store(config), untagged=untagged, dry_run=dry_run)


def disk_usage(*, config: Config | None = None) -> DiskUsage:
    """The local store's size by repository, and what :func:`prune` would free now."""
    from . import housekeeping

    return housekeeping.disk_usage(open_store(config))


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
         concurrency: int | None = None, progress: Progress | None = None, check: Check | None = None,
         overwrite: Overwrite | None = None) -> TransferResult:
    """Pull ``HOST/NAME[:TAG][@DIGEST]`` into the local store, or with ``dest`` straight into that
    directory (as ``pull -o``: every path checked, nothing of a refused model left behind).

    ``key`` (a public key PEM file, or a verifier) or ``policy`` (a policy file, or a loaded policy) refuses
    the model before a byte lands unless the registry holds signatures that satisfy it; a policy with
    ``formats: {deny_unsafe_pickle: true}`` also refuses unsafe pickles, before the files are placed
    (``dest``) or the model is tagged (the local store). ``force``,
    ``kinds``, ``include``, ``model_signature`` and ``check`` (as :func:`unpack`'s) go with ``dest``.
    Into the local store, a version tag naming another digest there is refused unless ``overwrite``
    (see :mod:`modelcrate.lifecycle.versions`)."""
    from . import transfer

    if dest is None and check is not None:
        raise UsageError("a check of the written files goes with -o DIR")
    if dest is None and (force or kinds or include or model_signature):
        raise UsageError("--force, --filter, --include and --model-signature go with -o DIR")
    if dest is not None and overwrite is not None:
        raise UsageError("-o DIR writes files, not tags: there is no version tag to overwrite")
    cfg = _config(config)
    verify = _verifier(key, policy, what="pull")
    concurrency = concurrency or cfg.concurrency
    deny = getattr(verify, "deny_unsafe_pickle", False)  # the policy's formats rule
    if dest is None:
        from .scan import deny_stored

        return transfer.pull(ref, config=cfg, concurrency=concurrency, progress=progress,
                             verify=verify, check=deny_stored if deny else None, force=overwrite)
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


def resolve(ref: str, *, gate: Gate | None = None, verifier: Verifier | None = None, local: bool = False,
            config: Config | None = None) -> Resolved:
    """The manifest ``ref`` names, as ``NAME@sha256:…``. With a digest the digest wins; with ``TAG@DIGEST`` a
    tag that names another manifest raises :class:`~modelcrate.errors.DigestMismatch`, locally and on
    registries alike. A stage tag resolved with a policy (``gate``, a
    :class:`~modelcrate.lifecycle.policy_gate.PolicyGate`) or the promoters' keys (``verifier``) must have a
    verified history that puts the tag where it is, and the policy must hold for the model now; otherwise
    :class:`~modelcrate.errors.PolicyViolation` names what failed."""
    from .lifecycle.api import Context, resolve_in

    cfg, r = _config(config), as_reference(ref)
    with Targets(cfg) as targets:
        target = targets.open(r, write=False, local=local)
        return resolve_in(target, r, gate=gate, verifier=verifier, ctx=Context(cfg))


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
    if predicate is None and not _signatures.has_default_predicate(uri):
        raise UsageError(f"predicate type {predicate_type} {NEEDS_PREDICATE}")
    when = created or datetime.now(UTC)
    with subject(ref, write=True, local=local, config=config) as (name, target, desc):
        if predicate is None:
            predicate = _signatures.default_predicate(target, desc, uri, created=when,
                                                      workdir=Path(workdir or Path.cwd()),
                                                      env=os.environ if env is None else env)
        stored = _signatures.attest(target, desc, name, signer, uri, predicate, created=when)
    return Attested(ref, desc.digest, signer.description, uri, stored)


def discover(ref: str, *, local: bool = False, config: Config | None = None) -> Discovery:
    """The signatures, attestations and other referrers of ``ref`` as a tree (claims, not verified)."""
    from . import signatures as _signatures

    with subject(ref, write=False, local=local, config=config) as (name, target, desc):
        nodes = _signatures.discover(target, desc)
    return Discovery(ref, name, desc.digest, tuple(nodes))


def search(scope: str | None = None, *, where: str | None = None, filters: SearchFilters | None = None,
           local: bool = False, sort: str | None = None, limit: int | None = None, offline: bool = False,
           repositories: list[str] | None = None, index: PathLike | None = None, recheck: bool = False,
           concurrency: int = 8, config: Config | None = None, verifier: Verifier | None = None,
           report: Callable[[Any], None] | None = None) -> list[SearchMatch]:
    """Models in ``scope`` (``HOST[:PORT][/PREFIX]``, or with ``local`` a local-store name prefix) that match
    ``where`` (the ``--where`` language, spec/search.md) and ``filters``, from the search index at ``index``
    (default: ``$XDG_CACHE_HOME/modelcrate/index.sqlite``), refreshed first unless ``offline``. Deprecation
    records count when ``verifier`` accepts them; ``report`` gets the refresh's stats (records not counted)."""
    from .index import db, search as _search

    path = Path(index) if index is not None else db.default_path(os.environ)
    return _search.search(scope, local=local, where=where, filters=filters, sort=sort, limit=limit,
                          offline=offline, repositories=repositories, index=path, config=_config(config),
                          concurrency=concurrency, recheck=recheck, verifier=verifier, report=report)


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


# ---- signers and verifiers from files --------------------------------------------------------------
def _read(path: PathLike, what: str) -> bytes:
    """A key, certificate or chain file: a regular file of bounded size, else one line naming it."""
    return read_regular_file(path, MAX_SMALL_FILE, f"the {what}")


def signer(*, key: PathLike | None = None, password: bytes | Callable[[], bytes | None] | None = None,
           cert: PathLike | None = None, chain: PathLike | None = None, keyless: bool = False,
           env: Mapping[str, str] | None = None) -> Signer:
    """The Signer for a private key file (PEM; ``password`` as bytes, or a function asked only when the
    key is encrypted), optionally with its certificate and chain files; or, with ``keyless``, Sigstore
    keyless signing with the token ``SIGSTORE_ID_TOKEN`` of ``env`` (default: this process's environment)
    or the browser flow."""
    from . import signatures as _signatures

    if keyless:
        if key or cert or chain:
            raise UsageError("keyless signing takes no key, certificate or chain")
        return _signatures.KeylessSigner(_signatures.identity_token(os.environ if env is None else env))
    if key is None:
        raise UsageError("say how to sign: a private key (optionally with its certificate), or keyless")
    pem = _read(key, "private key")
    if callable(password):
        password = password() if b"ENCRYPTED" in pem else None
    return _signatures.KeySigner.from_pem(pem, password, cert=_read(cert, "certificate") if cert else None,
                                          chain=_read(chain, "certificate chain") if chain else None)


def verifier(*, key: PathLike | None = None, ca_roots: PathLike | None = None, chain: tuple[PathLike, ...] = (),
             identity: str | None = None, issuer: str | None = None, trusted_root: PathLike | None = None,
             policy: PathLike | None = None) -> Verifier | Policy:
    """Exactly one way to accept signatures: a public key file, CA roots (with intermediates), a keyless
    identity with its OIDC issuer (against ``trusted_root``, default Sigstore's production root), or a
    policy file."""
    from . import signatures as _signatures

    chosen = [name for name, on in (("key", key), ("CA roots", ca_roots), ("policy", policy),
                                    ("keyless identity", identity or issuer)) if on]
    if len(chosen) != 1:
        raise UsageError(VERIFY_WITH_ONE + (f" (got {', '.join(chosen)})" if chosen else ""))
    if chain and not ca_roots:
        raise UsageError(CHAIN_NEEDS_ROOTS)
    if trusted_root and not (identity or issuer):
        raise UsageError(ROOT_NEEDS_IDENTITY)
    if key:
        return _signatures.KeyVerifier.from_pem(_read(key, "public key"))
    if ca_roots:
        return _signatures.CAVerifier(_read(ca_roots, "CA roots"), tuple(_read(p, "certificate") for p in chain))
    if policy:
        return _signatures.load_policy(policy)
    return _signatures.KeylessVerifier(identity or "", issuer or "", Path(trusted_root) if trusted_root else None)


def _keypair_paths(prefix: PathLike) -> tuple[Path, Path]:
    base = Path(prefix)
    return base.with_name(base.name + ".key"), base.with_name(base.name + ".pub")


def check_keygen(prefix: PathLike) -> None:
    """Refuse a key prefix whose ``.key`` or ``.pub`` file exists (key files are never overwritten)."""
    for path in _keypair_paths(prefix):
        if path.exists() or path.is_symlink():
            raise UsageError(f"{path} already exists; not overwriting a key file")


def keygen(prefix: PathLike, password: bytes, *, algorithm: str = "ecdsa-p256") -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (PEM encrypted with ``password``, mode 0600) and ``PREFIX.pub``; never overwrite."""
    from .signing import keys

    check_keygen(prefix)
    return keys.write_keypair(Path(prefix), keys.generate(algorithm), password)


# Phrases the CLI words with its flag names (cli/wording.py).
VERIFY_WITH_ONE = "verify with exactly one of a public key, CA roots, a keyless identity with its issuer, or a policy"
CHAIN_NEEDS_ROOTS = "intermediate certificates go with CA roots"
ROOT_NEEDS_IDENTITY = "a trusted root goes with a keyless identity and its issuer"
NEEDS_PREDICATE = "has no default predicate: it needs a predicate"


def _verifier(key: PathLike | Verifier | None, policy: PathLike | Policy | None, *, what: str
              ) -> Verifier | Policy | None:
    """The verifier ``key`` or ``policy`` names (paths are read here); at most one of them."""
    if key is not None and policy is not None:
        raise UsageError(f"{what} takes a key or a policy, not both")
    if key is None and policy is None:
        return None
    from . import signatures as _signatures  # only for a key or policy: the signing stack is not light

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


__all__ = ["attest", "catalog", "check_keygen", "copy", "delete", "diff", "digest", "discover", "disk_usage",
           "init", "inspect", "iter_catalog", "keygen", "lineage", "list_models", "list_tags", "login", "logout",
           "manifest", "model_signature", "open_store", "pack", "parse_local", "prune", "pull", "push", "reading",
           "remove", "resolve", "resolve_local", "search", "sign", "signer", "subject", "tag", "unpack", "verifier",
           "verify", "verify_attestation"]
