"""Version tags are immutable (spec/lifecycle.md "Version tags").

The version tag of a model is its metadata ``version`` mapped to a tag (``+`` → ``_``). Once it names a
digest, writing it to name another one is refused, on push, tag and copy alike, unless forced; a forced
overwrite is recorded as a signed ``tag-overwrite/v1`` record attached to the new manifest *before* the tag
moves, so without a key to sign it, it is refused (fail closed). Other tags (``latest``, stages) keep moving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..content.tagupdate import current
from ..content.target import Target
from ..errors import AlreadyExists, InvalidReference, UsageError
from ..format import digest as _digest
from ..format.descriptor import Descriptor
from ..format.model import ModelView
from ..format.reference import version_to_tag
from ..targets import read_subject
from .records import TAG_OVERWRITE_V1, tag_overwrite

if TYPE_CHECKING:  # signing loads only when an overwrite is recorded: a plain push stays light
    from ..signatures import Signer, Stored


@dataclass(frozen=True)
class Overwrite:
    """The caller's ``--force``: replace a version tag that names another digest, signed by ``signer``
    (None refuses, with a message saying a key is needed), for ``reason``."""

    signer: Signer | None
    reason: str = ""


def version_tag(metadata: Mapping[str, Any] | None) -> str | None:
    """The tag the model's own metadata ``version`` maps to; None without one (or one no tag can hold)."""
    version = (metadata or {}).get("version")
    if not isinstance(version, str) or not version:
        return None
    try:
        return version_to_tag(version)
    except InvalidReference:
        return None


def check_version_tag(target: Target, tag: str | None, desc: Descriptor,
                      model: ModelView | Mapping[str, Any] | None, *, force: Overwrite | None = None,
                      key_flag: str = "--key") -> str | None:
    """Before ``tag`` is written on ``target`` to name ``desc``: the digest it names now when that write
    overwrites a version tag (allowed only by ``force`` with a signer), else None. Raises
    :class:`AlreadyExists` when it would overwrite without ``force``, :class:`UsageError` when forced
    without a key to record it. ``key_flag``: the command's name for that key, in the messages."""
    metadata = model.metadata if isinstance(model, ModelView) else model
    if not tag or _digest.is_digest(tag) or tag != version_tag(metadata):
        return None
    existing = current(target, tag)
    if existing is None or existing.digest == desc.digest:
        return None  # new, or the same model again: idempotent
    if force is None:
        raise AlreadyExists(f"version tag {tag!r} already names {existing.digest}: a version is immutable; "
                            f"publish a new version, or overwrite with --force and {key_flag} (a signed record "
                            "of the overwrite is kept)")
    if force.signer is None:
        raise UsageError(f"overwriting version tag {tag!r} (it names {existing.digest}) needs {key_flag}: a forced "
                         "overwrite is recorded as a signed record, and is refused when it cannot be")
    return existing.digest


def record_overwrite(target: Target, new: Descriptor, name: str, tag: str, old_digest: str, force: Overwrite, *,
                     created: datetime | None = None) -> Stored:
    """Sign the record of ``tag`` moving from ``old_digest`` to ``new`` and attach it to ``new`` (which
    ``target`` must hold already). Call before moving the tag, so a tag never moves unrecorded."""
    if force.signer is None:  # check_version_tag refuses this first; never write an unsigned overwrite
        raise UsageError(f"overwriting version tag {tag!r} needs --key to record it")
    from ..signatures import attach_record

    created = created or datetime.now(UTC)
    facts = tag_overwrite(tag=tag, old_digest=old_digest, new_digest=new.digest, actor=force.signer.description,
                          reason=force.reason, time=created.replace(microsecond=0))
    return attach_record(target, new, name, force.signer, TAG_OVERWRITE_V1, facts.to_predicate(), created=created)


def guard_version_tag(src: Target, dst: Target, tag: str | None, desc: Descriptor,
                      force: Overwrite | None, *, key_flag: str = "--key") -> str | None:
    """:func:`check_version_tag` for a write of ``tag`` on ``dst`` whose model is read from ``src``."""
    if not tag or _digest.is_digest(tag):
        return None
    return check_version_tag(dst, tag, desc, read_subject(src, desc), force=force, key_flag=key_flag)


def place_tag(target: Target, desc: Descriptor, name: str, tag: str, old: str | None,
              force: Overwrite | None) -> None:
    """Write ``tag`` once :func:`check_version_tag` allowed it (``old``: what a forced write replaces, whose
    overwrite is recorded first, so the tag never moves unrecorded)."""
    if old and force is not None:
        record_overwrite(target, desc, name, tag, old, force)
    target.tag(desc, tag)
