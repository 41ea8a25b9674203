"""Stage names and the tags that belong to them (spec/lifecycle.md "Tags").

A stage ``S`` has two tags in the model's repository: ``S`` itself, the moving pointer consumers resolve,
and ``_history.S``, the head of its history chain. Pure.
"""

from __future__ import annotations

from ..errors import InvalidReference
from ..format.reference import STAGE_TAGS, is_referrers_tag, validate_tag

DEFAULT_STAGES = STAGE_TAGS
HEAD_PREFIX = "_history."
MAX_STAGE = 128 - len(HEAD_PREFIX)


def validate_stage(stage: str) -> str:
    """A stage name: a valid tag that is neither reserved (``sha256-…``, ``_…``) nor too long for its head tag."""
    validate_tag(stage)
    if stage.startswith("_") or is_referrers_tag(stage) or len(stage) > MAX_STAGE:
        raise InvalidReference(f"stage {stage!r} is reserved or too long: stages are tags of at most "
                               f"{MAX_STAGE} characters not beginning with '_' or 'sha256-'")
    return stage


def head_tag(stage: str) -> str:
    """``production`` → ``_history.production``, the tag naming the newest entry of its history."""
    return HEAD_PREFIX + validate_stage(stage)


def is_head_tag(tag: str) -> bool:
    return tag.startswith(HEAD_PREFIX)


def stage_of_head(tag: str) -> str | None:
    return tag[len(HEAD_PREFIX):] if is_head_tag(tag) else None


def is_lifecycle_tag(tag: str) -> bool:
    """True for tags that never name a version: history heads and referrer tags."""
    return is_head_tag(tag) or is_referrers_tag(tag)
