"""Lineage: what a model was built from (base models, recursively, and datasets), and the reverse —
which models were trained on a dataset or derived from a base model (impact analysis).

The graph comes from each model's metadata (``lineage.base_model``, ``lineage.datasets``), which the
manifest digest covers. Base models are followed through their own manifests where they can be reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .content.remote.http import TransportError
from .errors import InvalidReference, ModelcrateError
from .format.reference import Reference
from .index.db import LOCAL_SOURCE
from .signatures import Verifier

MAX_DEPTH = 16


@dataclass(frozen=True)
class Dataset:
    name: str | None
    uri: str | None
    digest: str | None
    split: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "uri": self.uri, "digest": self.digest, "split": self.split}


@dataclass(frozen=True)
class LineageNode:
    """A model in the graph. ``digest`` is None when it could not be reached (``problem`` says why)."""

    reference: str
    digest: str | None = None
    name: str | None = None
    version: str | None = None
    relation: str | None = None  # how this model relates to its base: finetune, quantized …
    datasets: tuple[Dataset, ...] = ()
    base: LineageNode | None = None
    problem: str | None = None
    stages: tuple[str, ...] = field(default=())
    provenance: tuple[dict[str, Any], ...] | None = None  # verified SLSA resolvedDependencies
    provenance_problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "name": self.name, "version": self.version,
                "relation": self.relation, "stages": list(self.stages),
                "datasets": [d.to_dict() for d in self.datasets], "problem": self.problem,
                "provenance": list(self.provenance) if self.provenance is not None else None,
                "provenanceProblem": self.provenance_problem,
                "base": self.base.to_dict() if self.base else None}


def _datasets(meta: Mapping[str, Any]) -> tuple[Dataset, ...]:
    return tuple(Dataset(d.get("name"), d.get("uri"), d.get("digest"), d.get("split"))
                 for d in (meta.get("lineage") or {}).get("datasets") or [])


def lineage(ref: str, *, config: Config, follow: bool = True, local: bool = False, verifier: Verifier | None = None) -> LineageNode:
    """The lineage graph of ``ref``. With ``follow``, each base model is read from its own reference
    (registry or local store) up to :data:`MAX_DEPTH` levels; a base that cannot be read is shown with
    the reason, and a cycle stops at the first repeated digest. With ``verifier``, each model's SLSA
    provenance attestations are verified and their dependencies shown beside the metadata's claims."""
    from .compare import locate  # compare imports the index, which imports this module

    seen: set[str] = set()

    def base_node(reference: str, depth: int) -> LineageNode:
        try:
            return node(reference, depth, False)
        except (ModelcrateError, TransportError) as exc:
            return LineageNode(reference, problem=str(exc))

    def node(reference: str, depth: int, use_local: bool) -> LineageNode:
        found = locate(reference, config=config, local=use_local, provenance=verifier)
        meta = found.view.metadata or {}
        lin = meta.get("lineage") or {}
        base_ref = lin.get("base_model")
        base = None
        if base_ref:
            if found.descriptor.digest in seen:
                base = LineageNode(base_ref, problem="cycle: already shown above")
            elif not follow or depth >= MAX_DEPTH:
                base = LineageNode(base_ref, problem="not followed" if not follow else f"deeper than {MAX_DEPTH}")
            else:
                seen.add(found.descriptor.digest)
                base = base_node(base_ref, depth + 1)
        return LineageNode(reference, found.descriptor.digest, meta.get("name"), meta.get("version"),
                           lin.get("base_model_relation") if base_ref else None, _datasets(meta), base,
                           stages=found.stages, provenance=found.provenance,
                           provenance_problem=found.provenance_problem)

    return node(ref, 0, local)


def render_tree(root: LineageNode) -> list[str]:
    """The graph as indented text lines, the model first and each base below it."""
    lines: list[str] = []
    n: LineageNode | None = root
    depth = 0
    while n is not None:
        pad = "  " * depth
        head = f"{pad}{'└─ ' if depth else ''}{n.reference}"
        if n.digest:
            head += f"  {n.digest[:19]}"
        if n.stages:
            head += f"  [{', '.join(n.stages)}]"
        if n.problem:
            head += f"  ({n.problem})"
        lines.append(head)
        for d in n.datasets:
            label = d.name or d.uri or d.digest or "?"
            extra = ", ".join(x for x in (d.uri if d.uri != label else None, d.digest, d.split) if x)
            lines.append(f"{pad}   dataset {label}" + (f" ({extra})" if extra else ""))
        for dep in n.provenance or ():
            label = dep.get("uri") or dep.get("name") or "?"
            role = (dep.get("annotations") or {}).get("role", "dependency")
            lines.append(f"{pad}   attested {role} {label}")
        if n.provenance_problem:
            lines.append(f"{pad}   provenance not verified: {n.provenance_problem}")
        if n.base is not None and n.relation:
            lines.append(f"{pad}   {n.relation} of:")
        n = n.base
        depth += 1
    return lines


def render_dot(root: LineageNode) -> str:
    """The graph in Graphviz DOT: models as boxes, datasets as cylinders, edges point to what was used."""
    out = ["digraph lineage {", "  rankdir=BT;"]

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    n: LineageNode | None = root
    while n is not None:
        out.append(f"  {q(n.reference)} [shape=box{', style=dashed' if n.digest is None else ''}];")
        for d in n.datasets:
            label = d.uri or d.name or d.digest or "?"
            out.append(f"  {q(label)} [shape=cylinder];")
            out.append(f"  {q(n.reference)} -> {q(label)} [label=trained_on];")
        if n.base is not None:
            out.append(f"  {q(n.reference)} -> {q(n.base.reference)} [label={q(n.relation or 'derived')}];")
        n = n.base
    out.append("}")
    return "\n".join(out)


# ---- impact analysis over index records (pure; "trained on this dataset" is a search on ``datasets``) ---
def _key(text: str) -> tuple[str, str | None, str | None] | None:
    try:
        r = Reference.parse(text.strip())
    except InvalidReference:
        return None
    return r.name, r.tag, r.digest


def _names(record: Mapping[str, Any]) -> list[tuple[str, str | None, str | None]]:
    where = record["repository"] if record["source"] == LOCAL_SOURCE else f"{record['source']}/{record['repository']}"
    return [(where, t, None) for t in record.get("registry_tags") or []] + [(where, None, record["digest"])]


def _matches(base: tuple[str, str | None, str | None], wanted: tuple[str, str | None, str | None]) -> bool:
    """Whether a ``base_model`` reference names what ``wanted`` names: the same digest, or the same name
    and tag (a wanted name without a tag or digest matches every tag)."""
    (bn, bt, bd), (wn, wt, wd) = base, wanted
    if bn != wn:
        return False
    if wd is not None:
        return bd == wd
    return wt is None or bt == wt


def derived_from(records: list[dict[str, Any]], ref: str) -> set[int]:
    """Ids of the records whose base model is ``ref`` — directly, or through other records in the list
    (a fine-tune of a fine-tune of ``ref``). Records that are ``ref`` itself lend their other names (tags,
    digest), so a child that names its base by digest is found from a query by tag."""
    wanted = _key(ref)
    if wanted is None:
        raise InvalidReference(f"--derived-from {ref!r} is not a reference")
    frontier = [wanted] + [n for r in records if any(_matches(n, wanted) for n in _names(r)) for n in _names(r)]
    found: set[int] = set()
    while frontier:
        current, frontier = frontier, []
        for r in records:
            base = _key(r["base_model"]) if id(r) not in found and r.get("base_model") else None
            if base is not None and any(_matches(base, w) for w in current):
                found.add(id(r))
                frontier += _names(r)
    return found
