"""A loaded policy file as plain values: who may sign what, and what each stage demands. Pure.

:mod:`.load` builds these from the YAML file (reading key files and building verifiers);
:mod:`.evaluate` reads them. A signer is identified by the string its verifier reports
(``key <hint>``, ``certificate <identity>``, ``keyless <identity> (<issuer>)``), so identities compare
as strings across signatures, approvals and promotions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .gates import MetricGate

DEFAULT_STAGES = ("dev", "staging", "production")


@dataclass(frozen=True)
class SignerSpec:
    """One accepted signer from the policy file.

    ``identity`` is what the verifier reports when it accepts a signature (None for an X.509 CA without
    ``identity``, which accepts any leaf it chains and reports the leaf's subject). ``verifier`` is a
    :class:`modelcrate.signatures.Verifier`.
    """

    kind: str  # "key", "ca" or "keyless"
    identity: str | None
    line: int
    verifier: Any = field(compare=False, repr=False)

    def matches(self, identity: str) -> bool:
        return self.identity is not None and identity == self.identity


@dataclass(frozen=True)
class ApprovalRule:
    """``count`` approvals from distinct ``approvers``; separation of duties as configured."""

    count: int
    approvers: tuple[SignerSpec, ...]
    distinct_from_signer: bool = True
    distinct_from_promoter: bool = True


@dataclass(frozen=True)
class StageRules:
    """What a promotion into ``name`` demands. Empty tuples and None mean "no such rule"."""

    name: str
    predecessors: tuple[str, ...] | None = None
    signatures: tuple[SignerSpec, ...] = ()
    attesters: tuple[SignerSpec, ...] = ()
    attestations: tuple[str, ...] = ()
    metrics: tuple[MetricGate, ...] = ()
    approvals: ApprovalRule | None = None
    promoters: tuple[SignerSpec, ...] = ()
    licenses: tuple[str, ...] = ()
    allow_deprecated: bool = False
    deny_unsafe_pickle: bool = False
    documents: tuple[str, ...] = ()  # attached document types that must be present, signed by an attester

    def signers(self) -> tuple[SignerSpec, ...]:
        """Every signer the stage names, once: whoever they are, their signatures are evidence."""
        out: dict[str | None, SignerSpec] = {}
        approvers = self.approvals.approvers if self.approvals else ()
        for spec in (*self.signatures, *self.attesters, *approvers, *self.promoters):
            out.setdefault(spec.identity if spec.identity is not None else f"line {spec.line}", spec)
        return tuple(out.values())


@dataclass(frozen=True)
class EnvironmentRules:
    """A deployment environment: the stage it serves from, and who may record deployments into it
    (empty: whoever the file's stage rules name)."""

    name: str
    stage: str
    deployers: tuple[SignerSpec, ...] = ()


@dataclass(frozen=True)
class PolicyFile:
    """One policy file: the pull/verify section (``signers``, ``require``) and the stages section.

    ``digest`` is the sha256 of the file's bytes, which a promotion record names. ``stages`` keeps the
    file's order; without a ``stages`` section it is :data:`DEFAULT_STAGES`, each without rules.
    """

    source: str
    digest: str
    stages: Mapping[str, StageRules]
    signers: tuple[SignerSpec, ...] = ()
    require_signature: bool = True
    require_attestations: tuple[str, ...] = ()
    has_stages: bool = False
    deny_unsafe_pickle: bool = False  # the pull policy's formats rule
    environments: Mapping[str, EnvironmentRules] = field(default_factory=dict)

    @property
    def vocabulary(self) -> tuple[str, ...]:
        return tuple(self.stages)

    def stage(self, name: str) -> StageRules | None:
        return self.stages.get(name)
