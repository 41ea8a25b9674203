"""References: ``[registry/]repository[:tag][@sha256:hex]``.

Grammar (spec/reference.md; the OCI distribution-spec name and tag rules)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ registry "/" ] path
    registry   := host [ ":" port ]     ; first component, only if it has "." or ":" or is "localhost"
    path       := component ( "/" component )*
    component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
    digest     := "sha256:" [a-f0-9]{64}

A name without a registry lives only in the local store. When both tag and digest are given the digest
wins and the tag is informational (it is still checked when the digest is resolved).

Docker Hub is named as docker names it: ``docker.io/x`` (or ``index.docker.io/x``) is
``docker.io/library/x``, and its API lives at ``registry-1.docker.io`` (:func:`registry_endpoint`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidReference
from . import digest as _digest

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_HOST = re.compile(
    r"^(?:localhost|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$"
)
MAX_NAME = 255
# Stage tags move between versions (spec/reference.md "Version tags and stage tags").
DEFAULT_TAG = "latest"  # docker's default when a reference names neither tag nor digest
STAGE_TAGS = ("dev", "staging", "production")
DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DOCKER_HUB_API = "registry-1.docker.io"


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:80] + "…")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference. ``registry`` is None for names that live only in the local store."""

    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Reference":
        """Parse and validate; raise :class:`InvalidReference` with the rule that failed.

        >>> Reference.parse("localhost:5000/team/bert:1.0")
        Reference(registry='localhost:5000', repository='team/bert', tag='1.0', digest=None)
        """
        if not isinstance(text, str) or not text or text != text.strip():
            raise InvalidReference(f"invalid reference {_shown(str(text))}: empty or surrounded by spaces")
        rest, at, dgst = text.partition("@")
        if at:
            try:
                _digest.validate(dgst)
            except InvalidReference:
                raise InvalidReference(
                    f"invalid reference {_shown(text)}: digest must be sha256: and 64 lowercase hex digits"
                ) from None
        tag = None
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1:]
            if not _TAG.fullmatch(tag):
                raise InvalidReference(
                    f"invalid reference {_shown(text)}: tag {_shown(tag)} must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}"
                )
        registry, path = _split_registry(rest)
        if registry is not None and registry.lower() in DOCKER_HUB_ALIASES:
            registry, path = DOCKER_HUB, path if "/" in path else f"library/{path}"
            rest = f"{registry}/{path}"
        if registry is not None and not _HOST.fullmatch(registry):
            raise InvalidReference(f"invalid reference {_shown(text)}: bad registry host {_shown(registry)}")
        if not _PATH.fullmatch(path):
            raise InvalidReference(
                f"invalid reference {_shown(text)}: repository {_shown(path)} must be lowercase "
                "letters, digits and separators (. _ __ -) in /-separated parts"
            )
        if len(rest) > MAX_NAME:
            raise InvalidReference(f"invalid reference {_shown(text)}: name longer than {MAX_NAME} characters")
        return cls(registry, path, tag, dgst or None)

    @property
    def name(self) -> str:
        """``registry/repository``, or just the repository for local names."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def reference(self) -> str | None:
        """What to resolve inside the repository: the digest if present, else the tag."""
        return self.digest or self.tag

    def or_latest(self) -> "Reference":
        """This reference, tagged ``latest`` when it names neither a tag nor a digest."""
        return self if self.tag or self.digest else self.with_tag(DEFAULT_TAG)

    def with_tag(self, tag: str | None) -> "Reference":
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> "Reference":
        return Reference(self.registry, self.repository, self.tag, _digest.validate(digest))

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _split_registry(name: str) -> tuple[str | None, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return first, rest
    return None, name


def registry_endpoint(registry: str) -> str:
    """The ``host[:port]`` that serves ``registry``'s API: Docker Hub's is not ``docker.io`` itself.

    >>> registry_endpoint("docker.io"), registry_endpoint("localhost:5000")
    ('registry-1.docker.io', 'localhost:5000')
    """
    return DOCKER_HUB_API if registry.lower() in DOCKER_HUB_ALIASES else registry


def validate_tag(tag: str) -> str:
    """Return ``tag`` if valid, else raise :class:`InvalidReference`."""
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise InvalidReference(f"invalid tag {_shown(str(tag))}: must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}")
    return tag


def version_to_tag(version: str) -> str:
    """Map a version to a tag. Registries refuse ``+``, and semver never uses ``_``, so ``+`` ↔ ``_`` is
    reversible: ``version_to_tag("1.2.0+cuda12")`` → ``"1.2.0_cuda12"``. A version that already holds
    ``_`` could not be mapped back, so it is refused."""
    if "_" in version:
        raise InvalidReference(f"version {_shown(version)} contains '_', which the tag mapping reserves for '+'")
    return validate_tag(version.replace("+", "_"))


def tag_to_version(tag: str) -> str:
    """Inverse of :func:`version_to_tag`."""
    return tag.replace("_", "+")


def is_stage_tag(tag: str) -> bool:
    """True for the moving stage tags (dev, staging, production)."""
    return tag in STAGE_TAGS


HISTORY_TAG_PREFIX = "_history."


def validate_user_tag(tag: str) -> str:
    """A tag a user may set: valid, and not a reserved one (``sha256-…`` referrer tags, ``_history.…``
    history heads): those are written only by signing and the lifecycle, never by hand."""
    validate_tag(tag)
    if is_referrers_tag(tag):
        raise InvalidReference(f"tag {_shown(tag)} is reserved: sha256-… tags hold signatures and referrers")
    if is_history_tag(tag):
        raise InvalidReference(f"tag {_shown(tag)} is reserved: {HISTORY_TAG_PREFIX}… tags are the heads of "
                               "stage histories, moved only by promote, rollback and retire")
    return tag


def is_history_tag(tag: str) -> bool:
    """True for the head tag of a stage's history chain (``_history.<stage>``)."""
    return tag.startswith(HISTORY_TAG_PREFIX)


def is_reserved_tag(tag: str) -> bool:
    """True for tags that never name a model version: referrer tags and history heads (hidden from listings)."""
    return is_referrers_tag(tag) or is_history_tag(tag)


def is_referrers_tag(tag: str) -> bool:
    """True for the distribution-spec referrers fallback and cosign tags (``sha256-<hex>[.sig|.att]``)."""
    return tag.startswith("sha256-")
