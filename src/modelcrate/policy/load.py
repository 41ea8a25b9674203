"""Load a policy file (spec/policy.md): one loader for the pull/verify section and the stages section.

The file is parsed by :mod:`modelcrate.format.yamldoc` against ``policy.schema.json``, then checked for
what a schema cannot say (stage names that exist, readable key files, parseable metric gates, a
satisfiable approval count). Every problem is one :class:`~modelcrate.errors.InvalidPolicy` line
``FILE:LINE: key: message``. Paths inside the file are relative to the file's directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .. import signatures as _sig
from .._internal.inputs import MAX_SMALL_FILE, read_regular_file
from ..errors import InvalidPolicy, ModelcrateError
from ..format import yamldoc
from ..signing import keys
from ..signing import statement as _statement
from .gates import GateSyntaxError, parse_gate
from .rules import DEFAULT_STAGES, ApprovalRule, EnvironmentRules, PolicyFile, SignerSpec, StageRules
from .verifiers import CAIdentityVerifier

SCHEMA_FILE = "policy.schema.json"


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The policy file's JSON Schema (the same file as spec/policy.schema.json)."""
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8"))


def load_policy_file(path: str | os.PathLike[str]) -> PolicyFile:
    """Read and check the policy file at ``path``."""
    path = Path(path)
    data = read_regular_file(path, MAX_SMALL_FILE, "the policy", error=InvalidPolicy)
    return parse_policy_text(data, base=path.parent, source=str(path))


def parse_policy_text(text: bytes | str, *, base: Path, source: str) -> PolicyFile:
    """Parse policy text; key files and other paths resolve against ``base``."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    doc = yamldoc.load_document(raw, schema(), source=source, error=InvalidPolicy)
    return _Builder(doc, base).build(hashlib.sha256(raw).hexdigest())


def pull_policy(policy: PolicyFile) -> _sig.Policy:
    """The pull/verify requirements (``signers`` and ``require``) as a :class:`modelcrate.signatures.Policy`."""
    if not policy.signers:
        raise InvalidPolicy(f"{policy.source}: has no signers section, which verifying or pulling by policy "
                            "needs (stages are checked when promoting)")
    return _sig.Policy(_sig.AnyOf(tuple(s.verifier for s in policy.signers)), policy.require_signature,
                       policy.require_attestations, policy.source, policy.deny_unsafe_pickle)


class _Builder:
    """Turns the checked document into :class:`PolicyFile`, reporting semantic problems on their line."""

    def __init__(self, doc: yamldoc.Document, base: Path) -> None:
        self.doc = doc
        self.base = base

    def fail(self, path: Sequence[str | int], message: str) -> ModelcrateError:
        return self.doc.error(path, message)

    def build(self, hexdigest: str) -> PolicyFile:
        data: Mapping[str, Any] = self.doc.data
        signers = tuple(self.signer(["signers", i], s, named=False) for i, s in enumerate(data.get("signers", [])))
        require = data.get("require", {})
        signature = require.get("signature", True)
        attestations = self.types(["require", "attestations"], require.get("attestations", []))
        if signers and not signature and not attestations:
            raise self.fail(["require"], "requires nothing (set require.signature or require.attestations)")
        raw_stages = data.get("stages")
        names = tuple(raw_stages) if raw_stages else DEFAULT_STAGES
        stages = {name: self.stage(name, (raw_stages or {}).get(name, {}), names) for name in names}
        environments = {env: self.environment(env, raw, names) for env, raw in data.get("environments", {}).items()}
        return PolicyFile(self.doc.source, f"sha256:{hexdigest}", stages, signers, signature, attestations,
                          has_stages=raw_stages is not None, environments=environments,
                          deny_unsafe_pickle=bool(data.get("formats", {}).get("deny_unsafe_pickle", False)))

    def environment(self, name: str, raw: Mapping[str, Any], names: tuple[str, ...]) -> EnvironmentRules:
        at = ["environments", name]
        if raw["stage"] not in names:
            raise self.fail([*at, "stage"], f"unknown stage {raw['stage']!r} (the stages are: {', '.join(names)})")
        return EnvironmentRules(name, raw["stage"], self.signers([*at, "deployers"], raw.get("deployers", [])))

    def stage(self, name: str, raw: Mapping[str, Any], names: tuple[str, ...]) -> StageRules:
        at = ["stages", name]
        predecessors = raw.get("from")
        for i, before in enumerate(predecessors or []):
            if before not in names:
                raise self.fail([*at, "from", i], f"unknown stage {before!r} (the stages are: {', '.join(names)})")
            if before == name:
                raise self.fail([*at, "from", i], "a stage cannot be its own predecessor")
        signatures = self.signers([*at, "signatures"], raw.get("signatures", []))
        attesters = self.signers([*at, "attesters"], raw.get("attesters", []))
        metrics = []
        for i, text in enumerate(raw.get("metrics", [])):
            try:
                gate = parse_gate(text)
            except GateSyntaxError as exc:
                raise self.fail([*at, "metrics", i], f"{text!r}: {exc}") from None
            if gate.baseline is not None and gate.baseline not in names:
                raise self.fail([*at, "metrics", i], f"{text!r}: unknown stage {gate.baseline!r}")
            metrics.append(gate)
        return StageRules(
            name, tuple(predecessors) if predecessors is not None else None, signatures, attesters,
            self.types([*at, "attestations"], raw.get("attestations", [])), tuple(metrics),
            self.approvals([*at, "approvals"], raw["approvals"]) if "approvals" in raw else None,
            self.signers([*at, "promoters"], raw.get("promoters", [])),
            tuple(dict.fromkeys(x.casefold() for x in raw.get("licenses", []))),
            bool(raw.get("allow_deprecated", False)),
            bool(raw.get("formats", {}).get("deny_unsafe_pickle", False)),
            documents=tuple(dict.fromkeys(raw.get("documents", []))))

    def approvals(self, at: list[str | int], raw: Mapping[str, Any]) -> ApprovalRule:
        approvers = [self.signer([*at, "keys", i], {"key": k}, named=True) for i, k in enumerate(raw.get("keys", []))]
        approvers += self.signers([*at, "identities"], raw.get("identities", []))
        distinct = {a.identity for a in approvers}
        if not approvers:
            raise self.fail(at, "names no approvers: list keys or identities")
        if len(distinct) < len(approvers):
            raise self.fail(at, "lists the same approver twice")
        if raw["count"] > len(distinct):
            raise self.fail([*at, "count"], f"needs {raw['count']} approvals but only {len(distinct)} approvers "
                                            "are listed")
        return ApprovalRule(raw["count"], tuple(approvers), raw.get("distinct_from_signer", True),
                            raw.get("distinct_from_promoter", True))

    def types(self, at: list[str | int], items: list[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_statement.predicate_type_uri(t) for t in items))

    def signers(self, at: list[str | int], items: list[Mapping[str, Any]]) -> tuple[SignerSpec, ...]:
        return tuple(self.signer([*at, i], item, named=True) for i, item in enumerate(items))

    def signer(self, at: list[str | int], item: Mapping[str, Any], *, named: bool) -> SignerSpec:
        """One signer entry; ``named`` (stage rules) requires an X.509 entry to name its identity."""
        line = self.doc.line(at)
        if "key" in item:
            public = self.read_key([*at, "key"], item["key"])
            verifier = _sig.KeyVerifier(public)
            return SignerSpec("key", verifier.description, line, verifier)
        if "ca" in item:
            chain = item.get("chain", [])
            chain = [chain] if isinstance(chain, str) else chain
            try:
                ca = _sig.CAVerifier(self.read([*at, "ca"], item["ca"]),
                                     tuple(self.read([*at, "chain"], c) for c in chain))
            except ModelcrateError as exc:
                raise self.fail([*at, "ca"], str(exc)) from None
            if "identity" not in item:
                if named:
                    raise self.fail(at, "an X.509 signer in a stage rule needs identity (the leaf's e-mail, "
                                        "URI or subject)")
                return SignerSpec("ca", None, line, ca)
            verifier = CAIdentityVerifier(ca, item["identity"])
            return SignerSpec("ca", verifier.description, line, verifier)
        keyless = item["keyless"]
        root = keyless.get("trusted_root")
        kv = _sig.KeylessVerifier(keyless["identity"], keyless["issuer"], self.path(root) if root else None)
        return SignerSpec("keyless", kv.description, line, kv)

    def path(self, value: str) -> Path:
        return Path(value) if Path(value).is_absolute() else self.base / value

    def read(self, at: list[str | int], value: str) -> bytes:
        path = self.path(value)
        try:
            return read_regular_file(path, MAX_SMALL_FILE, "the file")
        except ModelcrateError as exc:
            raise self.fail(at, str(exc)) from None

    def read_key(self, at: list[str | int], value: str) -> keys.PublicKey:
        data = self.read(at, value)
        try:
            return keys.load_public_key(data)
        except ModelcrateError as exc:
            raise self.fail(at, f"{self.path(value)}: {exc}") from None
