"""The signing flags several command groups share (sign, attest, approve, import, tag --force, the
lifecycle): ``--key``/``--cert``/``--cert-chain``/``--keyless``, the key password, and reading the small
files (keys, certificates, predicates) the flags name. Passwords never reach the output.

The password comes from ``$MODELCRATE_KEY_PASSWORD`` (or cosign's ``$COSIGN_PASSWORD``), else a prompt on
a terminal, else a line of piped stdin.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .. import api
from .._internal.inputs import MAX_SMALL_FILE, read_regular_file
from ..errors import UsageError
from .app import options

PASSWORD_ENV = "MODELCRATE_KEY_PASSWORD"
COSIGN_PASSWORD_ENV = "COSIGN_PASSWORD"

signer_options = options(
    click.option("--key", "key_path", type=click.Path(dir_okay=False, exists=True),
                 help="Private key (PEM, as `modelcrate keygen` writes it); password from "
                      f"${PASSWORD_ENV} (or ${COSIGN_PASSWORD_ENV}) or a prompt."),
    click.option("--cert", "cert_path", type=click.Path(dir_okay=False, exists=True),
                 help="X.509 certificate for --key (PEM or DER): sign for enterprise PKI."),
    click.option("--cert-chain", "chain_path", type=click.Path(dir_okay=False, exists=True),
                 help="Intermediate certificates for --cert (PEM)."),
    click.option("--keyless", is_flag=True,
                 help="Sign keyless with Sigstore (token from $SIGSTORE_ID_TOKEN or the browser). Needs network."),
)


def read_small_file(path: str, cap: int = MAX_SMALL_FILE) -> bytes:
    return read_regular_file(path, cap, "the file")  # keys, certificates, predicates


def _env_password() -> bytes | None:
    for name in (PASSWORD_ENV, COSIGN_PASSWORD_ENV):
        if os.environ.get(name) is not None:
            return os.environ[name].encode("utf-8")
    return None


def key_password(*, confirm: bool = False) -> bytes:
    """The key password: the environment, else a prompt on a terminal, else a line of piped stdin (twice,
    matching, for a new key); with nothing to read, one line naming the variable to set."""
    env = _env_password()
    if env is not None:
        return env
    if not sys.stdin.isatty():
        return _piped_password(confirm).encode("utf-8")
    question = "Password for the new private key" if confirm else "Password for the private key"
    text = click.prompt(question, hide_input=True, confirmation_prompt=confirm, err=True, default="",
                        show_default=False)
    return str(text).encode("utf-8")


def _piped_password(confirm: bool) -> str:
    def line() -> str:
        text = sys.stdin.readline()
        if not text:
            raise UsageError(f"the private key needs a password and there is no terminal to ask: set {PASSWORD_ENV}")
        return text.rstrip("\r\n")

    while True:
        first = line()
        if not confirm or line() == first:
            return first


def load_signer(key_path: str | None, cert_path: str | None, chain_path: str | None, keyless: bool) -> Any:
    """The Signer the flags ask for (``--key`` [``--cert`` [``--cert-chain``]] or ``--keyless``)."""
    return api.signer(key=key_path, password=key_password, cert=cert_path, chain=chain_path, keyless=keyless)
