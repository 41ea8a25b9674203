"""One error hierarchy for the whole toolkit.

Every error modelcrate raises on purpose is a :class:`ModelcrateError`. Each carries a one-line message
that says what happened and, where there is one, what to do next; the CLI prints exactly that line and
exits with :attr:`ModelcrateError.exit_code`. Third-party exceptions are translated at the boundary that
calls them (``raise X(...) from exc``) so callers only ever catch these.

Messages never contain credentials: constructors take facts (a digest, a path, a URL without userinfo)
and write the text themselves.
"""

from __future__ import annotations

from collections.abc import Sequence


# Said when a run is interrupted: downloads keep what arrived and uploads their open sessions, for the next run.
INTERRUPTED_HINT = "nothing incomplete was put in place; run it again to resume"


class ModelcrateError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 1
    hint: str = ""
    # The network or the user stopped the run, not the content: what was downloaded is kept to resume.
    resumable = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def diagnostics(self) -> str:
        """The message plus the next step, on one line."""
        text = str(self)
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(ModelcrateError):
    """Bad input from the user: a flag combination, a missing file, a malformed value."""

    exit_code = 2


class InvalidReference(UsageError):
    """A reference, tag, repository or digest string does not follow the grammar in spec/reference.md."""


class InvalidModelfile(UsageError):
    """modelcrate.yaml is not valid YAML or does not follow the modelfile rules."""


class InvalidMetadata(UsageError):
    """The metadata document does not validate against spec/metadata.schema.json."""


class InvalidPolicy(UsageError):
    """A policy file is not valid YAML or does not follow spec/policy.schema.json."""


class InvalidManifest(ModelcrateError):
    """A manifest, index or config is malformed, oversized or breaks the profile in spec/."""


class InvalidWeights(ModelcrateError):
    """A weight or model file's header is truncated, malformed, or claims more than the file holds."""


class NotFound(ModelcrateError):
    """A reference, tag, blob or manifest does not exist where it was looked for."""

    exit_code = 3


class AlreadyExists(ModelcrateError):
    """Writing would overwrite something that is kept unless --force is given."""


class DigestMismatch(ModelcrateError):
    """Content does not hash to the digest that was promised for it."""

    hint = "the content was corrupted or tampered with; nothing was kept"


class SizeMismatch(ModelcrateError):
    """Content is longer or shorter than its descriptor says."""

    hint = "the content was corrupted or truncated; nothing was kept"


class UnsafePath(ModelcrateError):
    """An artifact names a path that would land outside the target directory, or a link or device."""

    hint = "the artifact is malformed or hostile; nothing was written outside the target"


class StoreError(ModelcrateError):
    """The local store is unreadable, corrupt, or locked by another process."""


class RegistryError(ModelcrateError):
    """A registry answered with an error or not at all.

    ``status`` is the HTTP status when there was an answer; ``codes`` are the distribution-spec error
    codes of its body (``BLOB_UPLOAD_INVALID``, ``NAME_UNKNOWN``...), for callers that branch on them."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None,
                 codes: Sequence[str] = ()) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.codes: tuple[str, ...] = tuple(codes)


class RegistryNotFound(RegistryError, NotFound):
    """A registry answered 404: not found (exit code 3), with the registry's status and error codes."""


class AuthError(RegistryError):
    """Credentials are missing, wrong, or do not grant the needed scope."""

    exit_code = 4


class SignatureError(ModelcrateError):
    """Signing failed, or no signature satisfied the verification policy."""

    exit_code = 5


class PolicyViolation(ModelcrateError):
    """An artifact was refused because policy forbids it."""

    exit_code = 6


class CopyError(ModelcrateError):
    """A graph copy failed on one side; ``op`` and ``origin`` say where, ``__cause__`` says why."""

    def __init__(self, op: str, origin: str, cause: ModelcrateError) -> None:
        super().__init__(f"failed to {op} on {origin}: {cause}", hint=cause.hint or None)
        self.op = op
        self.origin = origin
        self.exit_code = cause.exit_code
