"""Stage names and the tags that belong to them (spec/lifecycle.md "Tags").

A stage ``S`` has two tags in the model's repository: ``S`` itself, the moving pointer consumers resolve,
and ``_history.S``, the head of its history chain. Pure.
"""

from __future__ import annotations

from ..errors import InvalidReference
from ..format.reference import (HISTORY_TAG_PREFIX, STAGE_TAGS, is_history_tag, is_referrers_tag,
                                is_reserved_tag)
from ..signing.predicates import check_name

DEFAULT_STAGES = STAGE_TAGS
HEAD_PREFIX = HISTORY_TAG_PREFIX


def validate_stage(stage: str) -> str:
    """A stage name (the one rule approvals and policies use too): a lowercase letter, then up to 31
    lowercase letters, digits or ``-``, and not a referrer tag (``sha256-…``)."""
    check_name("stage", stage)
    if is_referrers_tag(stage):
        raise InvalidReference(f"stage {stage!r} is reserved: sha256-… tags hold referrers")
    return stage


def head_tag(stage: str) -> str:
    """``production`` → ``_history.production``, the tag naming the newest entry of its history."""
    return HEAD_PREFIX + validate_stage(stage)


is_head_tag = is_history_tag


def stage_of_head(tag: str) -> str | None:
    return tag[len(HEAD_PREFIX):] if is_head_tag(tag) else None


def is_lifecycle_tag(tag: str) -> bool:
    """True for tags that never name a version: history heads and referrer tags."""
    return is_reserved_tag(tag)
