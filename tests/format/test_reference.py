"""Reference grammar, tag rules and the semver tag mapping (spec/reference.md)."""

from __future__ import annotations

import pytest

from modelcrate.errors import InvalidReference
from modelcrate.format.reference import (
    Reference, is_referrers_tag, is_stage_tag, tag_to_version, validate_tag, version_to_tag,
)

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, registry, repository, tag, digest",
    [
        ("bert", None, "bert", None, None),
        ("team/bert:1.0", None, "team/bert", "1.0", None),
        ("localhost/bert", "localhost", "bert", None, None),
        ("localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", None),
        ("registry.example.com/m@" + D, "registry.example.com", "m", None, D),
        ("127.0.0.1:5000/m:prod@" + D, "127.0.0.1:5000", "m", "prod", D),
        ("[::1]:5000/m:1", "[::1]:5000", "m", "1", None),
        ("a__b/c-d/e.f_g:_x", None, "a__b/c-d/e.f_g", "_x", None),
        ("ghcr.io/org/model:1.2.0_cuda12", "ghcr.io", "org/model", "1.2.0_cuda12", None),
    ],
)
def test_parse_valid(text: str, registry: str | None, repository: str, tag: str | None, digest: str | None) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(
    "text, rule",
    [
        ("", "empty"),
        (" bert", "spaces"),
        ("Bert:1", "lowercase"),
        ("bert:1+build", "tag"),
        ("bert:" + "x" * 129, "tag"),
        ("bert:.x", "tag"),
        ("bert@sha256:abc", "digest"),
        ("bert@sha256:" + "A" * 64, "digest"),
        ("bert@md5:" + "a" * 32, "digest"),
        ("a//b", "repository"),
        ("a/-b", "repository"),
        ("a/b/", "repository"),
        ("../etc/passwd", "registry host"),
        ("bad_host.com:99999999/x", "registry host"),
        ("x" * 300, "longer than"),
    ],
)
def test_parse_invalid_names_rule(text: str, rule: str) -> None:
    with pytest.raises(InvalidReference, match=rule):
        Reference.parse(text)


def test_error_message_truncates_huge_input() -> None:
    with pytest.raises(InvalidReference) as err:
        Reference.parse("A" * 100_000)
    assert len(str(err.value)) < 400


def test_reference_picks_digest_over_tag() -> None:
    assert Reference.parse("m:1@" + D).reference == D
    assert Reference.parse("m:1").reference == "1"


@pytest.mark.parametrize("version", ["1.0.0", "1.0.0-rc.1", "1.2.0+cuda12", "2.0.0-beta+exp.sha.5114f85"])
def test_semver_tag_mapping_round_trips(version: str) -> None:
    tag = version_to_tag(version)
    assert "+" not in tag
    validate_tag(tag)
    assert tag_to_version(tag) == version


def test_tag_kinds() -> None:
    assert is_stage_tag("production") and not is_stage_tag("1.0.0")
    assert is_referrers_tag("sha256-" + "a" * 64) and not is_referrers_tag("latest")


@pytest.mark.parametrize("text", ["m:1\n", "m\n", "m@sha256:" + "a" * 64 + "\n", "m:v1\n@sha256:" + "a" * 64])
def test_trailing_newlines_are_refused(text: str) -> None:
    with pytest.raises(InvalidReference):
        Reference.parse(text)
    with pytest.raises(InvalidReference):
        validate_tag("v1\n")


def test_version_with_underscore_cannot_be_mapped() -> None:
    with pytest.raises(InvalidReference, match="reserves"):
        version_to_tag("1_2")


def test_reserved_tags_refused_for_users() -> None:
    from modelcrate.format.reference import validate_user_tag

    with pytest.raises(InvalidReference, match="reserved"):
        validate_user_tag("sha256-" + "a" * 64)
    assert validate_user_tag("production") == "production"
