"""The evidence bundle: the model, every referrer of it (signatures, attestations, approvals, deployment and
attachment records, documents) and each stage's history chain, copied into an OCI image layout, so a third
party can re-verify every claim of the report offline with their own keys."""

from __future__ import annotations

from pathlib import Path

from ..content.layout import LocalStore
from ..content.tagupdate import current
from ..content.target import Target
from ..errors import AlreadyExists
from ..format.descriptor import Descriptor
from ..graphcopy import CopyOptions, copy_graph, extended_copy
from ..lifecycle.stages import head_tag


def write_bundle(target: Target, desc: Descriptor, name: str, stages: list[str], out: Path,
                 tag: str | None) -> Path:
    """Copy the evidence of ``desc`` into a new OCI layout at ``out`` (repository ``name``)."""
    if out.exists() and any(out.iterdir()):
        raise AlreadyExists(f"{out} exists and is not empty")
    dst = LocalStore(out).repository(name)
    extended_copy(target, dst, desc, CopyOptions())
    dst.tag(desc, tag or "report")
    for stage in stages:
        for stage_tag in (head_tag(stage), stage):
            found = current(target, stage_tag)
            if found is None:
                continue
            copy_graph(target, dst, found, CopyOptions())
            dst.tag(found, stage_tag)
    return out
