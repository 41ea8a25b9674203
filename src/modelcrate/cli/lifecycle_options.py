"""The flags and loaders of the commands that sign or read lifecycle records (promote and the rest of the
lifecycle, deployment records, attachments, metrics, events, the report): ``--policy``, ``--key`` as a
record signer or as accepted signers (repeatable), ``--at``, and the lifecycle Context a reference needs."""

from __future__ import annotations

from datetime import datetime

import click

from .. import lifecycle
from ..config import Config
from ..errors import UsageError
from ..format.reference import Reference
from ..lifecycle.gate import Gate
from ..lifecycle.policy_gate import PolicyGate
from ..signatures import AnyOf, KeyVerifier, Signer, Verifier
from .app import options
from .signers import load_signer, read_small_file

policy_option = click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True),
                             help="The policy file (YAML): stage rules, and who may promote into each stage.")
record_signer_options = options(
    click.option("--key", "key_path", type=click.Path(dir_okay=False, exists=True),
                 help="Private key to sign the record with (password from $MODELCRATE_KEY_PASSWORD or a prompt)."),
    click.option("--keyless", is_flag=True, help="Sign keyless with Sigstore. Needs network."),
)
readers_option = click.option("--key", "pub_paths", multiple=True, type=click.Path(dir_okay=False, exists=True),
                              help="Accept records signed by this public key (repeatable); default: the policy's "
                                   "promoters.")


def context_for(ref: str, config: Config) -> lifecycle.Context:
    return lifecycle.Context(config, config.registry() if Reference.parse(ref).registry else None)


def load_gate(policy_path: str | None) -> Gate | None:
    return PolicyGate.load(policy_path) if policy_path else None


def record_signer(key_path: str | None, keyless: bool) -> Signer:
    return load_signer(key_path, None, None, keyless)


def load_readers(pub_paths: tuple[str, ...]) -> Verifier | None:
    """The accepted signers ``--key`` names (any one of them), or None for "the policy's"."""
    if not pub_paths:
        return None
    found = [KeyVerifier.from_pem(read_small_file(path)) for path in pub_paths]  # bounded, regular files only
    return AnyOf(tuple(found)) if len(found) > 1 else found[0]


def parse_at(text: str | None) -> datetime | None:
    """An ``--at`` time: ISO 8601 with a zone, or None."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--at {text!r} is not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)") from None
    if when.tzinfo is None:
        raise UsageError(f"--at {text!r} has no time zone: add Z or an offset")
    return when
