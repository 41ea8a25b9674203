"""CLI commands for signatures and attestations: keygen, sign, verify, attest, verify-attestation, discover.

Thin: parse, load keys and settings once, call one :mod:`modelcrate.signatures` function, render a line,
a tree or ``--json``. A REF with a registry host (``HOST[:PORT]/NAME:TAG``) is the registry; without one,
or with ``--local``, it is the local store. Passwords and OIDC tokens never reach the output.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .. import api, signatures
from .._internal.inputs import read_regular_file
from ..content.target import Target
from ..errors import UsageError
from ..format.descriptor import Descriptor
from ..format.mediatypes import MAX_MANIFEST_BYTES
from ..format.reference import Reference
from ..signing import keys
from ..signing import statement as _statement
from .app import cli, config, emit_json, json_option, remote_option_list, remote_settings
from .render import echo

PASSWORD_ENV = "MODELCRATE_KEY_PASSWORD"

# ---- shared options -----------------------------------------------------------------------------------
def _options(*options: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


_target_options = _options(
    click.option("--local", is_flag=True, help="Use the local store even when REF names a registry."),
    *remote_option_list("--registry-ca-file"),
)

_signer_options = _options(
    click.option("--key", "key_path", type=click.Path(dir_okay=False, exists=True),
                 help="Private key (PEM, as `modelcrate keygen` writes it); password from "
                      f"${PASSWORD_ENV} or a prompt."),
    click.option("--cert", "cert_path", type=click.Path(dir_okay=False, exists=True),
                 help="X.509 certificate for --key (PEM or DER): sign for enterprise PKI."),
    click.option("--cert-chain", "chain_path", type=click.Path(dir_okay=False, exists=True),
                 help="Intermediate certificates for --cert (PEM)."),
    click.option("--keyless", is_flag=True,
                 help="Sign keyless with Sigstore (token from $SIGSTORE_ID_TOKEN or the browser). Needs network."),
)

_verifier_options = _options(
    click.option("--key", "pub_path", type=click.Path(dir_okay=False, exists=True),
                 help="Accept signatures by this public key (PEM: ECDSA, Ed25519 or RSA)."),
    click.option("--ca-file", "ca_path", type=click.Path(dir_okay=False, exists=True),
                 help="Accept certificate-backed signatures chaining to these CAs (PEM)."),
    click.option("--cert-chain", "chain_paths", multiple=True, type=click.Path(dir_okay=False, exists=True),
                 help="With --ca-file: intermediate certificates (PEM, repeatable)."),
    click.option("--cert-identity", help="Keyless: the signer's identity (e-mail or workflow URI), exactly."),
    click.option("--cert-oidc-issuer", help="Keyless: the OIDC issuer that vouched for --cert-identity."),
    click.option("--trusted-root", type=click.Path(dir_okay=False, exists=True),
                 help="Keyless: Sigstore trusted_root.json (default: the production root shipped with modelcrate)."),
    click.option("--policy", "policy_path", type=click.Path(dir_okay=False, exists=True),
                 help="A policy file (YAML) naming the accepted signers and required attestations."),
)


@contextlib.contextmanager
def _subject(ref: str, *, local: bool, push: bool, plain_http: bool, insecure: bool, registry_ca_file: str | None,
             timeout: float) -> Iterator[tuple[str, Target, Descriptor]]:
    """(repository name, Target, manifest descriptor) for REF."""
    remote = None if local or Reference.parse(ref).registry is None else remote_settings(
        plain_http, insecure, registry_ca_file, timeout)
    with api.subject(ref, write=push, local=local, config=config(remote=remote)) as found:
        yield found


def _read(path: str) -> bytes:
    return read_regular_file(path, MAX_MANIFEST_BYTES, "the file")  # keys, certificates, predicates


def _password(key_pem: bytes, *, confirm: bool = False) -> bytes | None:
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env.encode("utf-8")
    if not confirm and b"ENCRYPTED" not in key_pem:
        return None
    text = click.prompt("Password for the private key" if not confirm else "Password for the new private key",
                        hide_input=True, confirmation_prompt=confirm, err=True, default="", show_default=False)
    return text.encode("utf-8")


def load_signer(key_path: str | None, cert_path: str | None, chain_path: str | None,
                keyless: bool) -> signatures.Signer:
    """The Signer the flags ask for (``--key`` [``--cert`` [``--cert-chain``]] or ``--keyless``)."""
    if keyless:
        if key_path or cert_path or chain_path:
            raise UsageError("--keyless cannot be combined with --key, --cert or --cert-chain")
        return signatures.KeylessSigner(signatures.identity_token(os.environ))
    if not key_path:
        raise UsageError("say how to sign: --key FILE (optionally with --cert), or --keyless")
    pem = _read(key_path)
    return signatures.KeySigner.from_pem(pem, _password(pem), cert=_read(cert_path) if cert_path else None,
                                         chain=_read(chain_path) if chain_path else None)


def load_verifier(pub_path: str | None, ca_path: str | None, chain_paths: tuple[str, ...],
                  cert_identity: str | None, cert_oidc_issuer: str | None, trusted_root: str | None,
                  policy_path: str | None) -> signatures.Verifier | signatures.Policy:
    """The verifier (or policy) the flags ask for; exactly one method."""
    chosen = [name for name, on in (("--key", pub_path), ("--ca-file", ca_path), ("--policy", policy_path),
                                    ("--cert-identity/--cert-oidc-issuer", cert_identity or cert_oidc_issuer))
              if on]
    if len(chosen) != 1:
        raise UsageError("verify with exactly one of --key, --ca-file, --cert-identity with --cert-oidc-issuer, "
                         "or --policy" + (f" (got {', '.join(chosen)})" if chosen else ""))
    if chain_paths and not ca_path:
        raise UsageError("--cert-chain goes with --ca-file")
    if trusted_root and not (cert_identity or cert_oidc_issuer):
        raise UsageError("--trusted-root goes with --cert-identity and --cert-oidc-issuer")
    if pub_path:
        return signatures.KeyVerifier.from_pem(_read(pub_path))
    if ca_path:
        return signatures.CAVerifier(_read(ca_path), tuple(_read(p) for p in chain_paths))
    if policy_path:
        return signatures.load_policy(policy_path)
    return signatures.KeylessVerifier(cert_identity or "", cert_oidc_issuer or "",
                                      Path(trusted_root) if trusted_root else None)


def _check(target: Target, desc: Descriptor, name: str, verifier: signatures.Verifier | signatures.Policy,
           predicate_type: str) -> list[signatures.Verified]:
    if isinstance(verifier, signatures.Policy):
        return signatures.check_policy(target, desc, name, verifier).all()
    return signatures.verify(target, desc, name, verifier, predicate_type=predicate_type)


def _render_verified(name: str, desc: Descriptor, found: list[signatures.Verified]) -> None:
    echo(f"Verified OK: {name}@{desc.digest}")
    for v in found:
        what = "signature" if v.predicate_type == signatures.SIGNATURE_TYPE else v.predicate_type
        extra = f", signed as {v.signed_name}" if v.signed_name and v.signed_name != name else ""
        when = f", signed {v.created}" if v.created else \
            f", created {v.claimed_created} (unsigned)" if v.claimed_created else ""
        echo(f"  {what} by {v.signer}{when}{extra} ({v.kind} {v.referrer[:19]}…)")


# ---- commands -------------------------------------------------------------------------------------------
@cli.command()
@click.option("--output-key-prefix", default="modelcrate", show_default=True,
              help="Write PREFIX.key (encrypted, mode 0600) and PREFIX.pub.")
@click.option("--algorithm", type=click.Choice(keys.ALGORITHMS), default="ecdsa-p256", show_default=True,
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
    prefix = Path(output_key_prefix)
    for path in (prefix.with_name(prefix.name + ".key"), prefix.with_name(prefix.name + ".pub")):
        if path.exists() or path.is_symlink():
            raise UsageError(f"{path} already exists; not overwriting a key file")
    password = _password(b"", confirm=True)
    if not password:
        raise UsageError(f"an empty password is refused: set {PASSWORD_ENV} or type one")
    key_path, pub_path = keys.write_keypair(prefix, keys.generate(algorithm), password)
    echo(f"wrote {key_path} (private, encrypted, mode 0600) and {pub_path}", err=True)


@cli.command()
@click.argument("ref")
@_signer_options
@click.option("--cosign-legacy", is_flag=True,
              help="Also write cosign's simple-signing signature at the sha256-<hex>.sig tag (for cosign v2, skopeo).")
@click.option("--no-model-signing", is_flag=True,
              help="Do not store the OpenSSF model-signing (OMS) bundle over the model's files.")
@_target_options
@json_option
def sign(ref: str, key_path: str | None, cert_path: str | None, chain_path: str | None, keyless: bool,
         cosign_legacy: bool, no_model_signing: bool, local: bool, plain_http: bool, insecure: bool,
         registry_ca_file: str | None, timeout: float, as_json: bool) -> None:
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
    signer = load_signer(key_path, cert_path, chain_path, keyless)
    with _subject(ref, local=local, push=True, plain_http=plain_http, insecure=insecure,
                  registry_ca_file=registry_ca_file, timeout=timeout) as (name, target, desc):
        result = signatures.sign(target, desc, name, signer, created=datetime.now(UTC), cosign_legacy=cosign_legacy,
                                 model_signing=not no_model_signing)
    if as_json:
        emit_json({"reference": ref, "digest": result.digest, "signer": signer.description,
                   "stored": [s.to_dict() for s in result.stored], "notes": list(result.notes)})
        return
    for note in result.notes:
        echo(f"note: {note}", err=True)
    parts = ", ".join(f"{s.kind} {s.tag or s.descriptor.digest[:19] + '…'}" for s in result.stored)
    echo(f"signed {name}@{result.digest} by {signer.description}: {parts}", err=True)
    echo(result.stored[0].descriptor.digest)


@cli.command()
@click.argument("ref")
@_verifier_options
@_target_options
@json_option
def verify(ref: str, pub_path: str | None, ca_path: str | None, chain_paths: tuple[str, ...],
           cert_identity: str | None, cert_oidc_issuer: str | None, trusted_root: str | None,
           policy_path: str | None, local: bool, plain_http: bool, insecure: bool, registry_ca_file: str | None,
           timeout: float, as_json: bool) -> None:
    """Verify a model's signatures; exit non-zero unless one passes.

    A signature counts only if it verifies with the given key, CA or keyless identity AND its signed
    statement names this manifest digest. Key and PKI signatures carry no trusted timestamp, so
    certificates are checked at the current time. Exit 5 when no signature passes, 6 when --policy is
    not met.

    \b
    Example:
      modelcrate verify tiny-classifier:1.0.0 --key modelcrate.pub
      modelcrate verify registry.example.com/bert:1.0 --ca-file corp-root.pem --cert-chain corp-int.pem
      modelcrate verify registry.example.com/bert:1.0 \\
          --cert-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main \\
          --cert-oidc-issuer https://token.actions.githubusercontent.com
      modelcrate verify registry.example.com/bert:1.0 --policy serving-policy.yaml --json
    """
    verifier = load_verifier(pub_path, ca_path, chain_paths, cert_identity, cert_oidc_issuer, trusted_root,
                             policy_path)
    with _subject(ref, local=local, push=False, plain_http=plain_http, insecure=insecure,
                  registry_ca_file=registry_ca_file, timeout=timeout) as (name, target, desc):
        found = _check(target, desc, name, verifier, signatures.SIGNATURE_TYPE)
    if as_json:
        emit_json({"reference": ref, "digest": desc.digest, "verified": [v.to_dict() for v in found]})
    else:
        _render_verified(name, desc, found)


@cli.command()
@click.argument("ref")
@click.option("--type", "predicate_type", required=True,
              help="provenance (SLSA v1), evaluation (modelcrate metrics), or any predicate type URI.")
@click.option("--predicate", "predicate_path", type=click.Path(dir_okay=False, exists=True),
              help="The predicate (JSON object). Default: generated for provenance and evaluation.")
@click.option("--metric", "metric_args", multiple=True, metavar="NAME=VALUE",
              help="Evaluation: a measured value (repeatable), instead of --predicate.")
@click.option("--dataset", help="Evaluation with --metric: the data the values were measured on.")
@click.option("--phase", help="Evaluation: when it was measured (pre-release, production for monitoring).")
@click.option("--window", help="Evaluation: the period measured, START/END (RFC 3339 UTC).")
@_signer_options
@_target_options
@json_option
def attest(ref: str, predicate_type: str, predicate_path: str | None, metric_args: tuple[str, ...],
           dataset: str | None, phase: str | None, window: str | None, key_path: str | None, cert_path: str | None,
           chain_path: str | None, keyless: bool, local: bool, plain_http: bool, insecure: bool,
           registry_ca_file: str | None, timeout: float, as_json: bool) -> None:
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
            predicate = json.loads(_read(predicate_path))
        except ValueError:
            raise UsageError(f"{predicate_path} is not valid JSON") from None
    elif not signatures.has_default_predicate(uri):
        raise UsageError(f"--type {predicate_type} needs --predicate FILE")
    signer = load_signer(key_path, cert_path, chain_path, keyless)
    created = datetime.now(UTC)
    with _subject(ref, local=local, push=True, plain_http=plain_http, insecure=insecure,
                  registry_ca_file=registry_ca_file, timeout=timeout) as (name, target, desc):
        if predicate is None:
            predicate = signatures.default_predicate(target, desc, uri, created=created, workdir=Path.cwd(),
                                                     env=os.environ)
        stored = signatures.attest(target, desc, name, signer, uri, predicate, created=created)
    if as_json:
        emit_json({"reference": ref, "digest": desc.digest, "signer": signer.description, **stored.to_dict()})
        return
    echo(f"attested {name}@{desc.digest}: {uri} by {signer.description}", err=True)
    echo(stored.descriptor.digest)


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
@click.argument("ref")
@click.option("--type", "predicate_type", required=True, help="provenance, evaluation, or a predicate type URI.")
@_verifier_options
@_target_options
@json_option
def verify_attestation(ref: str, predicate_type: str, pub_path: str | None, ca_path: str | None,
                       chain_paths: tuple[str, ...], cert_identity: str | None, cert_oidc_issuer: str | None,
                       trusted_root: str | None, policy_path: str | None, local: bool, plain_http: bool,
                       insecure: bool, registry_ca_file: str | None, timeout: float, as_json: bool) -> None:
    """Verify a model's attestations of one type; exit non-zero unless one passes.

    The attestation's signature must verify AND its statement must name this manifest digest and the
    given predicate type. --json includes the verified predicates. With --policy, any of the policy's
    signers is accepted (its `require` section is for `verify --policy` and `pull --policy`).

    \b
    Example:
      modelcrate verify-attestation tiny-classifier:1.0.0 --type provenance --key modelcrate.pub --json
      modelcrate verify-attestation registry.example.com/bert:1.0 --type evaluation --ca-file corp-root.pem
    """
    verifier = load_verifier(pub_path, ca_path, chain_paths, cert_identity, cert_oidc_issuer, trusted_root,
                             policy_path)
    if isinstance(verifier, signatures.Policy):
        verifier = verifier.signers  # the policy's signers; the type comes from --type
    uri = _statement.predicate_type_uri(predicate_type)
    with _subject(ref, local=local, push=False, plain_http=plain_http, insecure=insecure,
                  registry_ca_file=registry_ca_file, timeout=timeout) as (name, target, desc):
        found = signatures.verify_attestation(target, desc, name, verifier, uri)
    if as_json:
        emit_json({"reference": ref, "digest": desc.digest, "verified": [v.to_dict() for v in found]})
    else:
        _render_verified(name, desc, found)


def _tree(nodes: list[signatures.Node], prefix: str = "") -> list[str]:
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
@click.argument("ref")
@_target_options
@json_option
def discover(ref: str, local: bool, plain_http: bool, insecure: bool, registry_ca_file: str | None, timeout: float,
             as_json: bool) -> None:
    """Show the signatures, attestations and other referrers of a model as a tree.

    Types and signers are what each referrer claims; `modelcrate verify` checks them.

    \b
    Example:
      modelcrate discover tiny-classifier:1.0.0
      modelcrate discover localhost:5000/team/bert:1.0 --json
    """
    with _subject(ref, local=local, push=False, plain_http=plain_http, insecure=insecure,
                  registry_ca_file=registry_ca_file, timeout=timeout) as (name, target, desc):
        nodes = signatures.discover(target, desc)
    if as_json:
        emit_json({"reference": ref, "digest": desc.digest, "referrers": [n.to_dict() for n in nodes]})
        return
    echo(f"{name}@{desc.digest}")
    if nodes:
        echo("\n".join(_tree(nodes)))
    else:
        echo("└── (no referrers)")
