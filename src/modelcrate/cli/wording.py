"""Error wording for the CLI: the library says what is missing in its own words, the CLI names the flag.

The signature operations do not know their callers' flags (a Python caller passes ``cert=``, not
``--cert``), so their messages say "a certificate chain needs the signing certificate"; here each such
phrase becomes the flags that supply it, once, for every command.
"""

from __future__ import annotations

import copy
from functools import cache

from ..errors import ModelcrateError


# The hints of content/remote/http.py, which names no flags.
TLS_UNTRUSTED = "trust the registry's CA certificate, or skip certificate verification"
PLAIN_HTTP = "the registry may speak plain HTTP"


@cache
def _flag_wording() -> dict[str, str]:
    # Imported on the error path only: rendering an error must not slow down every start-up.
    from .. import api
    from ..signatures import model_signing, sign_attest, signers, verifiers

    return {
        # registry connections (content/remote/http.py)
        TLS_UNTRUSTED: "pass --registry-ca-file with the registry's CA certificate, or --insecure to skip "
                       "verification",
        PLAIN_HTTP: "the registry may speak plain HTTP: use --plain-http",
        # building signers and verifiers (api.signer, api.verifier)
        api.VERIFY_WITH_ONE: "verify with exactly one of --key, --ca-roots, --cert-identity with --cert-oidc-issuer, "
                             "or --policy",
        api.CHAIN_NEEDS_ROOTS: "--cert-chain goes with --ca-roots",
        api.NEEDS_PREDICATE: "has no default predicate: it needs --predicate FILE",
        api.ROOT_NEEDS_IDENTITY: "--trusted-root goes with --cert-identity and --cert-oidc-issuer",
        "keyless signing takes no key, certificate or chain": "--keyless cannot be combined with --key, --cert or "
                                                              "--cert-chain",
        "say how to sign: a private key (optionally with its certificate), or keyless":
            "say how to sign: --key FILE (optionally with --cert), or --keyless",
        signers.CHAIN_WITHOUT_CERT: "--cert-chain needs --cert (the signing certificate)",
        signers.COSIGN_NEEDS_KEY: "--cosign-legacy needs --key: keyless legacy signatures need a Rekor bundle "
                                  "annotation",
        verifiers.COSIGN_KEY_ONLY: "cosign legacy signatures are checked with --key only",
        verifiers.KEYLESS_NEEDS_BOTH: "keyless verification needs both --cert-identity and --cert-oidc-issuer",
        sign_attest.NO_METRICS: "the model's metadata has no metrics: give the evaluation with --predicate FILE",
        model_signing.WHOLE_MODEL: "--model-signature covers the whole model: drop --filter and --include",
        model_signing.OVERWRITE_HINT: "use --force to overwrite it",
        "the model-signature path": "--model-signature",
        "the kinds and paths asked for": "--filter/--include",
        "another key than the private key": "another key than --key",
        "sign offline with a key": "sign offline with --key",
    }


def flag_wording(exc: ModelcrateError) -> ModelcrateError:
    """``exc`` with the library's phrases for missing inputs replaced by the flags that supply them."""
    text, hint = str(exc), exc.hint
    for phrase, flags in _flag_wording().items():
        text, hint = text.replace(phrase, flags), hint.replace(phrase, flags)
    if (text, hint) == (str(exc), exc.hint):
        return exc
    worded = copy.copy(exc)
    worded.args = (text,)
    worded.hint = hint
    return worded
