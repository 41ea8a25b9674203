"""Policy as code (spec/policy.md): one policy file for pulls and promotions, loaded once, evaluated purely.

- :mod:`.load`: the file (``signers``/``require`` for pull and verify, ``stages`` for promotions) with
  ``FILE:LINE: key: message`` errors; :mod:`.rules` holds what it builds.
- :mod:`.evaluate`: pure: a stage's rules over verified :class:`Evidence`, a :class:`Decision` of
  :class:`RuleResult` lines.
- :mod:`.evidence`: gathers and verifies that evidence from a Target.
- :mod:`.approvals`: writes approval and rejection records.
- :mod:`.gates`: the metric-gate and SPDX licence-expression parsers.
"""

from __future__ import annotations

from .evaluate import (
    Approval,
    Attestation,
    Decision,
    Deprecation,
    Evidence,
    Metric,
    RuleResult,
    Signature,
    evaluate,
)
from .load import load_policy_file, parse_policy_text, pull_policy
from .rules import DEFAULT_STAGES, ApprovalRule, PolicyFile, SignerSpec, StageRules

__all__ = [
    "DEFAULT_STAGES", "Approval", "ApprovalRule", "Attestation", "Decision", "Deprecation", "Evidence", "Metric",
    "PolicyFile", "RuleResult", "Signature", "SignerSpec", "StageRules", "evaluate", "load_policy_file",
    "parse_policy_text", "pull_policy",
]
