"""CLI commands for signatures and attestations: keygen, sign, verify, attest, verify-attestation, discover.

Thin: parse, call one :mod:`modelcrate.api` function, render a line, a tree or ``--json``. A REF with a
registry host (``HOST[:PORT]/NAME:TAG``) is the registry; without one, or with ``--local``, it is the
local store. Passwords and OIDC tokens never reach the output.

cosign's spellings are accepted where ours differ: ``--certificate-identity``, ``--certificate-oidc-issuer``,
``--ca-roots``/``--ca-intermediates``, and ``$COSIGN_PASSWORD`` when ``$MODELCRATE_KEY_PASSWORD`` is unset.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from .. import api
from ..config import Config
from ..errors import UsageError
from ..format.mediatypes import MAX_MANIFEST_BYTES
from ..signing.keys import ALGORITHMS as KEY_ALGORITHMS
from ..signing import statement as _statement
from ..signing.statement import SIGNATURE_V1
from .app import cli, complete_refs, deprecated_alias, emit_json, json_option, options, target_options
from .render import echo
from .signers import PASSWORD_ENV, key_password, load_signer, read_small_file, signer_options

# ---- options ------------------------------------------------------------------------------------------
_verifier_options = options(
    click.option("--key", "pub_path", type=click.Path(dir_okay=False, exists=True),
                 help="Accept signatures by this public key (PEM: ECDSA, Ed25519 or RSA)."),
    click.option("--ca-roots", "ca_path", type=click.Path(dir_okay=False, exists=True),
                 help="Accept certificate-backed signatures chaining to these signing CAs (PEM)."),
    # The earlier spelling of --ca-roots: kept working, hidden (--ca-file names the registry CA elsewhere).
    click.option("--ca-file", "legacy_ca_path", type=click.Path(dir_okay=False, exists=True), hidden=True,
                 callback=deprecated_alias("--ca-roots")),
    click.option("--cert-chain", "--ca-intermediates", "chain_paths", multiple=True,
                 type=click.Path(dir_okay=False, exists=True),
                 help="With --ca-roots: intermediate certificates (PEM, repeatable)."),
    click.option("--cert-identity", "--certificate-identity", "cert_identity",
                 help="Keyless: the signer's identity (e-mail or workflow URI), exactly."),
    click.option("--cert-oidc-issuer", "--certificate-oidc-issuer", "cert_oidc_issuer",
                 help="Keyless: the OIDC issuer that vouched for --cert-identity."),
    click.option("--trusted-root", type=click.Path(dir_okay=False, exists=True),
                 help="Keyless: Sigstore trusted_root.json (default: the production root shipped with modelcrate)."),
    click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True),
                 help="A policy file (YAML) naming the accepted signers and required attestations."),
)


def load_verifier(pub_path: str | None, ca_path: str | None, chain_paths: tuple[str, ...],
                  cert_identity: str | None, cert_oidc_issuer: str | None, trusted_root: str | None,
                  policy_path: str | None) -> Any:
    """The verifier (or policy) the flags ask for; exactly one method."""
    return api.verifier(key=pub_path, ca_roots=ca_path, chain=chain_paths, identity=cert_identity,
                        issuer=cert_oidc_issuer, trusted_root=trusted_root, policy=policy_path)


def _render_verified(found: Any) -> None:
    echo(f"Verified OK: {found.name}@{found.digest}")
    for v in found.verified:
        what = "signature" if v.predicate_type == SIGNATURE_V1 else v.predicate_type
        extra = f", signed as {v.signed_name}" if v.signed_name and v.signed_name != found.name else ""
        when = f", signed {v.created}" if v.created else \
            f", created {v.claimed_created} (unsigned)" if v.claimed_created else ""
        echo(f"  {what} by {v.signer}{when}{extra} ({v.kind} {v.referrer[:19]}…)")


# ---- commands -------------------------------------------------------------------------------------------
@cli.command()
@click.option("--output-key-prefix", default="modelcrate", show_default=True,
              help="Write PREFIX.key (encrypted, mode 0600) and PREFIX.pub.")
@click.option("--algorithm", type=click.Choice(KEY_ALGORITHMS), default="ecdsa-p256", show_default=True,
              help="Key type. ECDSA P-256 works with cosign and OpenSSF model-signing.")
def keygen(output_key_prefix: str, algorithm: str) -> None:
    """Generate a signing key pair: PREFIX.key (encrypted PEM) and PREFIX.pub.

    The password comes from $MODELCRATE_KEY_PASSWORD or a prompt (asked twice). Existing files are never
    overwritten.

    \b
    Example:
      modelcrate keygen --output-key-prefix release
      MODELCRATE_KEY_PASSWORD=... modelcrate keygen --algorithm ed25519
    """
    api.check_keygen(output_key_prefix)  # refuse existing files before asking for a password
    password = key_password(confirm=True)
    if not password:
        raise UsageError(f"an empty password is refused: set {PASSWORD_ENV} or type one")
    key_path, pub_path = api.keygen(output_key_prefix, password, algorithm=algorithm)
    echo(f"wrote {key_path} (private, encrypted, mode 0600) and {pub_path}", err=True)


@cli.command()
@click.argument("ref", shell_complete=complete_refs)
@signer_options
@click.option("--cosign-legacy", is_flag=True,
              help="Also write cosign's simple-signing signature at the sha256-<hex>.sig tag (for cosign v2, skopeo).")
@click.option("--no-model-signing", is_flag=True,
              help="Do not store the OpenSSF model-signing (OMS) bundle over the model's files.")
@target_options
@json_option
def sign(ref: str, key_path: str | None, cert_path: str | None, chain_path: str | None, keyless: bool,
         cosign_legacy: bool, no_model_signing: bool, local: bool, as_json: bool, config: Config) -> None:
    """Sign a model: store a Sigstore bundle over its manifest digest as a referrer.

    Also stores an OpenSSF model-signing bundle over the model's files (ECDSA keys, certificates and
    keyless), and with --cosign-legacy cosign's tag-based signature. Signing covers the manifest digest
    only, so it is instant for any model size; pull checks every blob against that manifest.

    \b
    Example:
      modelcrate sign tiny-classifier:1.0.0 --key modelcrate.key
      modelcrate sign localhost:5000/team/bert:1.0 --key release.key --cosign-legacy
      modelcrate sign registry.example.com/bert:1.0 --key signer.key --cert signer.crt --cert-chain ca-int.pem
      SIGSTORE_ID_TOKEN=$(...) modelcrate sign registry.example.com/bert:1.0 --keyless
    """
    api.resolve(ref, local=local, config=config)  # a wrong reference fails before any password is asked
    signer = load_signer(key_path, cert_path, chain_path, keyless)
    result = api.sign(ref, signer, cosign_legacy=cosign_legacy, model_signing=not no_model_signing, local=local,
                      config=config)
    if as_json:
        emit_json(result.to_dict())
        return
    for note in result.notes:
        echo(f"note: {note}", err=True)
    parts = ", ".join(f"{s.kind} {s.tag or s.descriptor.digest[:19] + '…'}" for s in result.stored)
    echo(f"signed {ref} ({result.digest}) by {result.signer}: {parts}", err=True)
    echo(result.stored[0].descriptor.digest)


@cli.command()
@click.argument("ref", shell_complete=complete_refs)
@_verifier_options
@target_options
@json_option
def verify(ref: str, pub_path: str | None, ca_path: str | None, legacy_ca_path: str | None,
           chain_paths: tuple[str, ...], cert_identity: str | None, cert_oidc_issuer: str | None,
           trusted_root: str | None, policy_path: str | None, local: bool, as_json: bool, config: Config) -> None:
    """Verify a model's signatures; exit non-zero unless one passes.

    A signature counts only if it verifies with the given key, CA or keyless identity AND its signed
    statement names this manifest digest. Key and PKI signatures carry no trusted timestamp, so
    certificates are checked at the current time. Exit 5 when no signature passes, 6 when --policy is
    not met.

    \b
    Example:
      modelcrate verify tiny-classifier:1.0.0 --key modelcrate.pub
      modelcrate verify registry.example.com/bert:1.0 --ca-roots corp-root.pem --cert-chain corp-int.pem
      modelcrate verify registry.example.com/bert:1.0 \\
          --cert-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main \\
          --cert-oidc-issuer https://token.actions.githubusercontent.com
      modelcrate verify registry.example.com/bert:1.0 --policy serving-policy.yaml --json
    """
    verifier = load_verifier(pub_path, ca_path or legacy_ca_path, chain_paths, cert_identity, cert_oidc_issuer,
                             trusted_root, policy_path)
    found = api.verify(ref, verifier, local=local, config=config)
    if as_json:
        emit_json(found.to_dict())
    else:
        _render_verified(found)


@cli.command()
@click.argument("ref", shell_complete=complete_refs)
@click.option("--type", "predicate_type", required=True,
              help="provenance (SLSA v1), evaluation (modelcrate metrics), or any predicate type URI.")
@click.option("--predicate", "predicate_path", type=click.Path(dir_okay=False, exists=True),
              help="The predicate (JSON object). Default: generated for provenance and evaluation.")
@click.option("--metric", "metric_args", multiple=True, metavar="NAME=VALUE",
              help="Evaluation: a measured value (repeatable), instead of --predicate.")
@click.option("--dataset", help="Evaluation with --metric: the data the values were measured on.")
@click.option("--phase", help="Evaluation: when it was measured (pre-release, production for monitoring).")
@click.option("--window", help="Evaluation: the period measured, START/END (RFC 3339 UTC).")
@signer_options
@target_options
@json_option
def attest(ref: str, predicate_type: str, predicate_path: str | None, metric_args: tuple[str, ...],
           dataset: str | None, phase: str | None, window: str | None, key_path: str | None, cert_path: str | None,
           chain_path: str | None, keyless: bool, local: bool, as_json: bool, config: Config) -> None:
    """Attach a signed attestation (in-toto statement about the manifest digest) to a model.

    Without --predicate, provenance is generated from the model's metadata lineage (base model, datasets,
    code commit), the git state of the current directory (HEAD, remote, dirty flag; no network) and CI
    variables, and evaluation from the metadata's metrics.

    \b
    Example:
      modelcrate attest tiny-classifier:1.0.0 --type provenance --key modelcrate.key
      modelcrate attest tiny-classifier:1.0.0 --type evaluation --predicate eval.json --key modelcrate.key
      modelcrate attest registry.example.com/bert:1.0 --type https://example.com/review/v1 \\
          --predicate review.json --key release.key
      modelcrate attest localhost:5000/team/bert:1.1.0 --type evaluation --phase production \\
          --metric accuracy=0.91 --dataset live-traffic --window 2026-03-01T00:00:00Z/2026-03-08T00:00:00Z \\
          --key monitor.key
    """
    uri = _statement.predicate_type_uri(predicate_type)
    predicate = _evaluation_flags(uri, metric_args, dataset, phase, window, predicate_path)
    if predicate is None and predicate_path:
        try:
            predicate = json.loads(read_small_file(predicate_path, MAX_MANIFEST_BYTES))
        except ValueError:
            raise UsageError(f"{predicate_path} is not valid JSON") from None
        if not isinstance(predicate, dict):
            raise UsageError(f"{predicate_path} holds JSON, but not an object")
    api.resolve(ref, local=local, config=config)  # a wrong reference fails before any password is asked
    signer = load_signer(key_path, cert_path, chain_path, keyless)
    done = api.attest(ref, predicate_type, signer, predicate=predicate, local=local, config=config)
    if as_json:
        emit_json(done.to_dict())
        return
    echo(f"attested {ref} ({done.digest}): {done.predicate_type} by {done.signer}", err=True)
    echo(done.stored.descriptor.digest)


def _evaluation_flags(uri: str, metric_args: tuple[str, ...], dataset: str | None, phase: str | None,
                      window: str | None, predicate_path: str | None) -> dict[str, Any] | None:
    """The evaluation predicate --metric/--dataset/--phase/--window describe, or None when none is given."""
    if not (metric_args or dataset or phase or window):
        return None
    if uri != _statement.EVALUATION_V1:
        raise UsageError("--metric, --dataset, --phase and --window go with --type evaluation")
    if predicate_path:
        raise UsageError("give the metrics either with --metric or in --predicate, not both")
    if not metric_args or not dataset:
        raise UsageError("an evaluation from flags needs --metric NAME=VALUE and --dataset")
    metrics = []
    for arg in metric_args:
        name, sep, value = arg.partition("=")
        try:
            number = float(value) if sep else None
        except ValueError:
            number = None
        if not name or number is None:
            raise UsageError(f"--metric {arg!r}: expected NAME=NUMBER")
        metrics.append({"name": name, "value": number, "dataset": dataset})
    span = None
    if window is not None:
        start, sep, stop = window.partition("/")
        if not sep:
            raise UsageError(f"--window {window!r}: expected START/END")
        span = {"start": start, "end": stop}
    from ..signing import predicates as _predicates

    return _predicates.evaluation(metrics, created=datetime.now(UTC), phase=phase, window=span)


@cli.command(name="verify-attestation")
@click.argument("ref", shell_complete=complete_refs)
@click.option("--type", "predicate_type", required=True, help="provenance, evaluation, or a predicate type URI.")
@_verifier_options
@target_options
@json_option
def verify_attestation(ref: str, predicate_type: str, pub_path: str | None, ca_path: str | None,
                       legacy_ca_path: str | None, chain_paths: tuple[str, ...], cert_identity: str | None,
                       cert_oidc_issuer: str | None, trusted_root: str | None, policy_path: str | None, local: bool,
                       as_json: bool, config: Config) -> None:
    """Verify a model's attestations of one type; exit non-zero unless one passes.

    The attestation's signature must verify AND its statement must name this manifest digest and the
    given predicate type. --json includes the verified predicates. With --policy, any of the policy's
    signers is accepted (its `require` section is for `verify --policy` and `pull --policy`).

    \b
    Example:
      modelcrate verify-attestation tiny-classifier:1.0.0 --type provenance --key modelcrate.pub --json
      modelcrate verify-attestation registry.example.com/bert:1.0 --type evaluation --ca-roots corp-root.pem
    """
    verifier = load_verifier(pub_path, ca_path or legacy_ca_path, chain_paths, cert_identity, cert_oidc_issuer,
                             trusted_root, policy_path)
    found = api.verify_attestation(ref, predicate_type, verifier, local=local, config=config)
    if as_json:
        emit_json(found.to_dict())
    else:
        _render_verified(found)


def _tree(nodes: list[Any], prefix: str = "") -> list[str]:
    lines = []
    for i, node in enumerate(nodes):
        last = i == len(nodes) - 1
        label = node.kind if node.kind != "attestation" else f"attestation {node.predicate_type}"
        if node.kind == "other":
            label = f"referrer {node.artifact_type}"
        details = [d for d in (node.signer, node.created, node.tag or node.digest[:19] + "…") if d]
        lines.append(f"{prefix}{'└── ' if last else '├── '}{label}  " + "  ".join(details))
        lines.extend(_tree(node.children, prefix + ("    " if last else "│   ")))
    return lines


@cli.command()
@click.argument("ref", shell_complete=complete_refs)
@target_options
@json_option
def discover(ref: str, local: bool, as_json: bool, config: Config) -> None:
    """Show the signatures, attestations and other referrers of a model as a tree.

    Types and signers are what each referrer claims; `modelcrate verify` checks them.

    \b
    Example:
      modelcrate discover tiny-classifier:1.0.0
      modelcrate discover localhost:5000/team/bert:1.0 --json
    """
    found = api.discover(ref, local=local, config=config)
    if as_json:
        emit_json(found.to_dict())
        return
    echo(f"{found.name}@{found.digest}")
    echo("\n".join(_tree(list(found.referrers))) if found.referrers else "└── (no referrers)")
