"""The versions of a repository and who a reader trusts: what every query over a repository starts from."""

from __future__ import annotations

from dataclasses import dataclass

from ..content.target import TagLister, Target
from ..errors import NotFound, UsageError
from ..format.descriptor import Descriptor
from ..lifecycle.api import stages_of
from ..lifecycle.gate import Gate, trusted_signers
from ..lifecycle.stages import is_lifecycle_tag
from ..signatures import Verifier, read_subject

MAX_VERSIONS = 1000  # a repository listing more version tags than this is read up to here, with a note


@dataclass(frozen=True)
class Version:
    tag: str
    descriptor: Descriptor
    metadata: dict


def versions(target: Target, gate: Gate) -> tuple[list[Version], list[str]]:
    """Every version tag of the repository naming a model (not stage, history or referrer tags), sorted by
    tag; and notes on what was passed over."""
    if not isinstance(target, TagLister):
        raise UsageError(f"{target.name} cannot list its tags")
    try:
        tags = target.tags()
    except NotFound:
        return [], []
    stages = set(stages_of(target, gate))
    out, notes = [], []
    for tag in sorted(t for t in tags if not is_lifecycle_tag(t) and t not in stages):
        if len(out) >= MAX_VERSIONS:
            notes.append(f"only the first {MAX_VERSIONS} version tags were read")
            break
        desc = target.resolve(tag)
        view = read_subject(target, desc)
        if view is not None:
            out.append(Version(tag, desc, dict(view.metadata or {})))
    return out, notes


def readers(gate: Gate, verifier: Verifier | None) -> Verifier:
    """Whose records a reader accepts: the keys given, else every signer the policy names."""
    found = trusted_signers(gate, verifier)
    if found is None:
        raise UsageError("say whose records to trust: the signers' public keys, or a policy naming them")
    return found
