"""Reading a stage's history from a Target: head tag → entry → previous entry …, each record verified.

The walk is bounded (a visited set, :data:`~modelcrate.lifecycle.chain.MAX_ENTRIES`, size limits on every
manifest and bundle) and never scans the repository's versions. Every byte is checked against its digest
by the Target's verifying reader; each record's bundle must verify under the caller's verifier (the
promoters a policy allows, or given keys) before :func:`~modelcrate.lifecycle.chain.verify_chain` checks
the links and replays the records.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..content.tagupdate import current
from ..content.target import Target
from ..content.verify import read_all
from ..errors import InvalidManifest, ModelcrateError, NotFound, SignatureError
from ..format.descriptor import Descriptor, parse_manifest
from ..format.mediatypes import INDEX_TYPES, MAX_MANIFEST_BYTES, OCI_INDEX
from ..signatures import BUNDLE_MEDIA_TYPE, Verifier
from ..signing import bundle as _bundle
from ..signing import statement as _statement
from . import chain as _chain
from .chain import Entry, History, HistoryError
from .records import PROMOTION_V1, RecordError, empty_stage, parse_entry, parse_promotion
from .stages import head_tag

MAX_BUNDLE_BYTES = MAX_MANIFEST_BYTES


def _read(target: Target, desc: Descriptor, what: str) -> bytes:
    try:
        with target.fetch(desc) as stream:
            return read_all(stream, desc, MAX_MANIFEST_BYTES)
    except NotFound:
        raise HistoryError(f"{what} {desc.digest[:19]}… is missing from {target.name}") from None
    except InvalidManifest as exc:
        raise HistoryError(f"{what} {desc.digest[:19]}… is unreadable: {exc}") from None


@contextmanager
def _as_history_error(where: str) -> Iterator[None]:
    try:
        yield
    except HistoryError:
        raise
    except (RecordError, InvalidManifest, SignatureError) as exc:
        raise HistoryError(f"{where}: {exc}") from None


def read_entry(target: Target, desc: Descriptor, verifier: Verifier) -> Entry:
    """Fetch one history entry and its record; verify the bundle and statement. Links are not checked here."""
    raw = _read(target, Descriptor(OCI_INDEX, desc.digest, desc.size), "history entry")
    where = f"history entry {desc.digest[:19]}…"
    with _as_history_error(where):
        node = parse_entry(raw)
        manifest = parse_manifest(_read(target, node.record, "history record"))
        if manifest.subject is None or len(manifest.layers) != 1 or manifest.layers[0].media_type != BUNDLE_MEDIA_TYPE:
            raise RecordError("its record is not a single Sigstore bundle about a model")
        layer = manifest.layers[0]
        if layer.size > MAX_BUNDLE_BYTES:
            raise RecordError(f"its bundle is {layer.size} bytes, over the limit")
        bundle = _read(target, layer, "history bundle")
        try:
            signed, signer = verifier.verify_bundle(bundle)
        except SignatureError as exc:
            raise HistoryError(f"{where} (#{node.sequence}) is not signed by an allowed promoter "
                               f"({verifier.description}): {exc}") from None
        statement = _statement.check_statement(signed, digest=manifest.subject.digest, predicate_type=PROMOTION_V1)
        promotion = parse_promotion(statement.predicate)
    return Entry(desc.digest, node.record.digest, layer.digest, manifest.subject.digest, signer, promotion, node)


def walk(target: Target, head: Descriptor | None, verifier: Verifier, *,
         limit: int = _chain.MAX_ENTRIES) -> list[Entry]:
    """The entries from ``head`` back to the first, returned oldest first. Bounded by ``limit``."""
    entries: list[Entry] = []
    seen: set[str] = set()
    desc = head
    while desc is not None:
        if desc.digest in seen:
            raise HistoryError(f"history entry {desc.digest[:19]}… appears twice: the chain loops")
        if len(entries) >= limit:
            raise HistoryError(f"the history is longer than {limit} entries; refusing to read further")
        seen.add(desc.digest)
        entry = read_entry(target, desc, verifier)
        entries.append(entry)
        desc = entry.node.previous
    entries.reverse()
    return entries


def head_of(target: Target, stage: str) -> Descriptor | None:
    """What the stage's head tag names (None: no history yet). It must be a history entry index."""
    desc = current(target, head_tag(stage))
    if desc is not None and desc.media_type not in INDEX_TYPES:
        raise HistoryError(f"{head_tag(stage)} in {target.name} holds a {desc.media_type}, not a history entry")
    return desc


def read_history(target: Target, stage: str, verifier: Verifier, *, head: Descriptor | None = None,
                 limit: int = _chain.MAX_ENTRIES) -> History:
    """The verified history of ``stage`` (from its head tag, or from ``head`` when given)."""
    if head is None:
        head = head_of(target, stage)
    return _chain.verify_chain(stage, walk(target, head, verifier, limit=limit))


@dataclass(frozen=True)
class StageState:
    """A stage as found: its verified history and what the stage tag names now."""

    history: History
    tagged: Descriptor | None  # what the stage tag names (None: absent)

    @property
    def untracked(self) -> str | None:
        """Why the stage tag is not where the history says, or None when it is."""
        try:
            _chain.check_stage_tag(self.history, self.tagged.digest if self.tagged else None,
                                   empty_stage(self.history.stage)[1].digest)
        except _chain.UntrackedMove as exc:
            return str(exc)
        return None


def read_stage(target: Target, stage: str, verifier: Verifier) -> StageState:
    """The stage's verified history and its tag (an untracked move is reported, not raised)."""
    history = read_history(target, stage, verifier)
    return StageState(history, current(target, stage))


class UnverifiedRecords:
    """Reads records without checking who signed them (the signer is shown as claimed, marked unverified).

    Only for a writer that has no list of allowed promoters (a promotion without a policy): it must link
    its record to the chain as it stands. Readers that decide anything always pass a real verifier.
    """

    description = "any signer (unverified)"

    def verify_bundle(self, bundle_bytes: bytes) -> tuple[bytes, str]:
        try:
            return _bundle.unverified_statement_of(bundle_bytes), "unverified"
        except ModelcrateError as exc:
            raise SignatureError(f"unreadable bundle: {exc}") from None

    def verify_cosign(self, payload: bytes, annotations: object, digest: str) -> str:
        raise SignatureError("not a history record")
