"""Signing and attestation: pure functions from bytes to bytes, no registry and no storage.

Modules:

* :mod:`~modelcrate.signing.dsse`: DSSE pre-authentication encoding and envelopes.
* :mod:`~modelcrate.signing.statement`: in-toto Statement v1 builder, parser and :func:`check_statement`.
* :mod:`~modelcrate.signing.predicates`: SLSA Provenance v1 (from model lineage) and evaluation predicates.
* :mod:`~modelcrate.signing.keys`: key generation, PEM, raw sign/verify, key hints, key files.
* :mod:`~modelcrate.signing.bundle`: Sigstore bundle v0.3 signing and verification (key, X.509, keyless).
* :mod:`~modelcrate.signing.oms`: OpenSSF Model Signing (OMS v1.0) bundles over model files.
* :mod:`~modelcrate.signing.cosign`: cosign simple-signing payloads for ``sha256-<hex>.sig`` tags.
* :mod:`~modelcrate.signing.x509`: certificate loading, subjects, Fulcio identities and issuers.

A model is identified by its OCI manifest digest; an attestation about it is a statement whose subject
carries that digest, signed in a bundle. Verifying means two steps, always both: check the signature
(``bundle.verify_*``), then check what was signed (:func:`statement.check_statement`).

Example:

>>> from modelcrate.signing import bundle, keys, statement
>>> key = keys.generate()
>>> digest = "sha256:" + "ab" * 32
>>> signed = bundle.sign_statement(statement.build_statement([("reg/m", {"sha256": "ab" * 32})], "signature", {}), key)
>>> statement.check_statement(bundle.verify_with_key(signed, key.public_key()), digest=digest).predicate_type
'https://sigstore.dev/cosign/sign/v1'
"""
