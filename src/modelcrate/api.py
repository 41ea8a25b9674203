"""The public Python API: the same operations the CLI runs, addressed by reference strings.

>>> from modelcrate import api
>>> result = api.pack("examples/tiny-classifier", "tiny-classifier:1.0.0")   # doctest: +SKIP
>>> api.inspect("tiny-classifier:1.0.0").metadata["name"]                    # doctest: +SKIP
'tiny-classifier'
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import copy as _copy, pack as _pack, signatures as _signatures, unpack as _unpack
from .content import referrers as _referrers
from .importers import detect as _detect
from .content.layout import LocalRepository, LocalStore, split_ref_name
from .errors import ModelcrateError, NotFound, UsageError
from .format.descriptor import Descriptor
from .format.mediatypes import ANN_REF_NAME
from .format.model import ModelView, read_model
from .format.reference import DEFAULT_TAG, Reference, is_referrers_tag, validate_user_tag
from .settings import Settings


def _settings(settings: Settings | None) -> Settings:
    return settings or Settings.from_env()


def open_store(settings: Settings | None = None) -> LocalStore:
    """The local store named by the settings (created on first use)."""
    return LocalStore(_settings(settings).home)


def parse_local(ref: str) -> Reference:
    """Parse a reference for the local store; the tag defaults to ``latest`` when no digest is given."""
    return Reference.parse(ref).or_latest()


def local_target(ref: Reference, settings: Settings | None = None) -> LocalRepository:
    return open_store(settings).repository(ref.name)


def init(directory: str | os.PathLike[str], *, name: str | None = None, force: bool = False,
         formats: list[str] | None = None) -> _detect.Written:
    """Write ``DIR/modelcrate.yaml`` from what the directory says about itself (a Kitfile, a modctl
    Modelfile, an MLflow MLmodel, a Hugging Face card and config.json, weight headers), classifying its
    files; refuse to overwrite unless ``force``. ``formats`` limits (and requires) the sources read."""
    return _detect.write(directory, name=name, force=force, formats=formats)


@dataclass(frozen=True)
class Packed:
    reference: str
    descriptor: Descriptor
    view: ModelView


def pack(directory: str | os.PathLike[str], ref: str | None = None, *, modelfile: str | None = None,
         settings: Settings | None = None, concurrency: int | None = None) -> Packed:
    """Pack a model directory into the local store under ``ref`` (``name[:tag]``; default: ``name:version``
    from modelcrate.yaml), ``concurrency`` files at a time (default: the settings')."""
    s = _settings(settings)
    p = _pack.plan(directory, modelfile, source_date_epoch=s.source_date_epoch)
    if ref is None:
        ref = f"{p.metadata['name']}:{p.metadata['version']}"
        try:
            Reference.parse(ref)
        except ModelcrateError as exc:
            raise UsageError(f"modelcrate.yaml's name:version {ref!r} is not a reference ({exc})",
                             hint="pass -t NAME:TAG") from None
    r = parse_local(ref)
    if r.digest:
        raise UsageError("pack takes a name and tag, not a digest: the digest is the result")
    validate_user_tag(r.tag or DEFAULT_TAG)
    store = open_store(s)
    with store.writing():
        result = _pack.pack(p, store.repository(r.name), r.tag, concurrency=concurrency or s.concurrency)
    return Packed(str(r), result.descriptor, read_model(result.manifest))


def resolve(ref: str, settings: Settings | None = None) -> tuple[Reference, LocalRepository, Descriptor]:
    """Parse ``ref`` and resolve it in the local store; with ``tag@digest`` the digest wins and must exist."""
    r = parse_local(ref)
    repo = local_target(r, settings)
    desc = repo.resolve(r.reference or DEFAULT_TAG)
    if r.digest and r.tag:
        try:
            tagged = repo.resolve(r.tag)
        except NotFound:
            tagged = None
        if tagged is not None and tagged.digest != r.digest:
            raise NotFound(f"{r.name}:{r.tag} is {tagged.digest}, not {r.digest}")
    return r, repo, desc


def inspect(ref: str, settings: Settings | None = None) -> ModelView:
    """The parsed model at ``ref``: files, sizes, digests, metadata (``.manifest.raw`` holds the bytes)."""
    _r, repo, desc = resolve(ref, settings)
    return _unpack.fetch_model(repo, desc.digest)


def unpack(ref: str, out_dir: str | os.PathLike[str], *, kinds: tuple[str, ...] = (),
           include: tuple[str, ...] = (), force: bool = False, settings: Settings | None = None,
           check: _unpack.Check | None = None) -> _unpack.UnpackResult:
    """Write the model's files into ``out_dir`` (see :mod:`modelcrate.unpack` for the safety rules);
    ``check`` sees the verified files before they are put in place (``scan.UnpackGate`` scans them)."""
    _r, repo, desc = resolve(ref, settings)
    return _unpack.unpack(repo, desc.digest, out_dir, kinds=kinds, include=include, force=force, check=check)


def model_signature(ref: str, settings: Settings | None = None) -> _signatures.ModelSignature:
    """The OpenSSF model-signing bundle stored with the model at ``ref`` (for ``unpack --model-signature``)."""
    _r, repo, desc = resolve(ref, settings)
    return _signatures.model_signature(repo, desc)


def tag(src: str, dst: str, settings: Settings | None = None) -> Descriptor:
    """Point local reference ``dst`` at what ``src`` names (the content is shared, not copied)."""
    r, repo, desc = resolve(src, settings)
    d = parse_local(dst)
    if d.digest or not d.tag:
        raise UsageError(f"{dst}: the destination needs a tag, not a digest")
    validate_user_tag(d.tag)
    store = open_store(settings)
    dst_repo = store.repository(d.name)
    if d.name != r.name:
        # Referrers (signatures, attestations) are indexed per repository: carry them to the new name,
        # as a copy would. The blobs are shared, so this only writes the new name's referrers index.
        with store.writing():
            _referrers.copy_referrers(repo, dst_repo, desc, _copy.copy_graph, _copy.CopyOptions())
    dst_repo.tag(desc, d.tag)
    return desc


def remove(ref: str, settings: Settings | None = None) -> Descriptor:
    """Remove a tag from the local store and free content nothing else uses."""
    r = parse_local(ref)
    store = open_store(settings)
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


@dataclass(frozen=True)
class Listed:
    name: str
    tag: str | None
    digest: str
    size: int
    created: str | None
    version: str | None


def list_models(settings: Settings | None = None) -> list[Listed]:
    """Every tagged model in the local store (referrer tags hidden), sorted by name and tag."""
    store = open_store(settings)
    out = []
    for e in store.entries():
        name, tag_, _d = split_ref_name(e.annotation(ANN_REF_NAME) or "")
        if tag_ is not None and is_referrers_tag(tag_):
            continue
        try:
            view = read_model(store.read_small(e))
        except ModelcrateError:  # a non-model manifest (or a damaged blob) still gets listed
            out.append(Listed(name, tag_, e.digest, 0, None, None))
            continue
        meta = view.metadata or {}
        out.append(Listed(name, tag_, e.digest, view.total_size, meta.get("created"), meta.get("version")))
    return sorted(out, key=lambda x: (x.name, x.tag or ""))


# Registry transport: the operations behind push, pull, copy, tags, catalog, login and logout
# (see modelcrate.transfer for their documentation).
from .transfer import (  # noqa: E402,F401  (re-exported)
    catalog, copy_ref, list_tags, login, logout, pull, pull_to_dir, push, push_dir,
)
