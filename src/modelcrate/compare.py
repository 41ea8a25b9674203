"""Read a model by reference from a registry or the local store (its manifest only), and diff two.

>>> from modelcrate.compare import diff                                                    # doctest: +SKIP
>>> d = diff("localhost:5000/team/bert:1.0", "localhost:5000/team/bert:1.1")
>>> [(m.name, m.delta) for m in d.metrics]
[('accuracy', 0.021)]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from . import signatures as _signatures
from .config import Config
from .content.referrers import list_referrers
from .content.target import TagLister, Target
from .content.verify import read_all
from .errors import SignatureError
from .format.descriptor import Descriptor
from .format.diff import FieldChange, ModelDiff, diff as diff_views
from .format.mediatypes import MAX_MANIFEST_BYTES
from .format.model import ModelView, read_model
from .format.reference import Reference
from .index.records import DEFAULT_STAGES
from .targets import open_target, resolve


@dataclass(frozen=True)
class Located:
    """A model found by reference: where it is, its manifest descriptor and parsed view."""

    reference: Reference
    descriptor: Descriptor
    view: ModelView
    stages: tuple[str, ...]
    referrers: dict[str, int]  # artifactType → count (signatures, attestations, modelcars …)
    provenance: tuple[dict[str, Any], ...] | None = None  # verified resolvedDependencies; None: not asked
    provenance_problem: str | None = None  # why no provenance attestation verified


def read_view(target: Target, desc: Descriptor) -> ModelView:
    """The parsed model manifest at ``desc``, verified against its digest."""
    with target.fetch(desc) as stream:
        return read_model(read_all(stream, desc, MAX_MANIFEST_BYTES))


def stages_naming(target: Target, digest: str, stages: tuple[str, ...] = DEFAULT_STAGES) -> tuple[str, ...]:
    """The stage tags of the repository that name ``digest`` (one tag list, then one HEAD per stage tag)."""
    if not isinstance(target, TagLister):
        return ()
    present = set(target.tags())
    return tuple(s for s in stages if s in present and target.resolve(s).digest == digest)


def locate(ref: str, *, config: Config, local: bool = False, with_referrers: bool = False,
           provenance: _signatures.Verifier | None = None) -> Located:
    """Find ``ref`` (a registry reference, or a local-store name) and read its manifest, never a blob.
    With ``provenance``, its SLSA provenance attestations are verified with that verifier and their
    ``resolvedDependencies`` returned."""
    r = Reference.parse(ref).or_latest()
    with open_target(r, config, write=False, local=local) as target:
        desc = resolve(target, r)
        view = read_view(target, desc)
        counts: dict[str, int] = {}
        if with_referrers:
            counts = dict(Counter(x.artifact_type for x in list_referrers(target, desc)))
        deps, problem = _verified_provenance(target, desc, r.name, provenance) if provenance else (None, None)
        return Located(r, desc, view, stages_naming(target, desc.digest), counts, deps, problem)


def _verified_provenance(target: Target, desc: Descriptor, name: str, verifier: _signatures.Verifier
                         ) -> tuple[tuple[dict[str, Any], ...] | None, str | None]:
    try:
        verified = _signatures.verify_attestation(target, desc, name, verifier, "provenance")
    except SignatureError as exc:
        return None, str(exc)
    deps = []
    for v in verified:
        predicate = v.statement.predicate if v.statement is not None else {}
        for dep in ((predicate or {}).get("buildDefinition") or {}).get("resolvedDependencies") or []:
            if isinstance(dep, dict) and dep not in deps:
                deps.append(dep)
    return tuple(deps), None


def diff(old_ref: str, new_ref: str, *, config: Config) -> ModelDiff:
    """Differences between two models (either may be in a registry or the local store): metadata field by
    field, files by digest with size deltas, metrics with deltas, and stage and referrer differences.
    Only the two manifests (and referrer manifests) are read."""
    a = locate(old_ref, config=config, with_referrers=True)
    b = locate(new_ref, config=config, with_referrers=True)
    extra = []
    if a.stages != b.stages:
        extra.append(FieldChange("stages", list(a.stages) or None, list(b.stages) or None))
    for kind in sorted(set(a.referrers) | set(b.referrers)):
        if a.referrers.get(kind) != b.referrers.get(kind):
            extra.append(FieldChange(f"referrers.{kind}", a.referrers.get(kind), b.referrers.get(kind)))
    return diff_views(a.view, b.view, extra=extra)
