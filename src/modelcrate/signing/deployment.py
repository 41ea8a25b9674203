"""The deployment predicate (``https://modelcrate.dev/deployment/v1``): a signed statement that one model
digest started (``event: record``) or stopped (``event: end``) running in one environment (spec/deployment.md).

Pure: the builder takes every value as an argument and returns a plain dict; the parser checks a predicate
taken from a VERIFIED statement and returns typed fields, raising :class:`SignatureError` naming the field.

>>> pred = deployment_predicate(environment="prod-eu", event="record", digest="sha256:" + "ab" * 32,
...                             actor="key 3b1f", time="2026-01-02T03:04:05Z", replicas=3)
>>> parse_deployment(pred).replicas
3
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelcrate.errors import UsageError
from modelcrate.signing.predicates import check_name, rebuilt, timestamp

DEPLOYMENT_V1 = "https://modelcrate.dev/deployment/v1"
EVENTS = ("record", "end")
MAX_TEXT = 2048
MAX_REPLICAS = 1_000_000
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s]{1,2000}")
_FIELDS = {"environment": "environment", "event": "event", "digest": "digest", "endpoint": "endpoint",
           "replicas": "replicas", "actor": "actor", "time": "time", "stage": "stage",
           "historyEntry": "history_entry"}  # JSON field -> argument of deployment_predicate


@dataclass(frozen=True)
class DeploymentFields:
    """The fields of one deployment predicate, checked."""

    environment: str
    event: str  # "record" or "end"
    digest: str
    actor: str
    time: datetime
    endpoint: str | None = None
    replicas: int | None = None
    stage: str | None = None  # the stage it was deployed from (its verified history named this digest)
    history_entry: str | None = None  # that stage's history entry (index digest) at the time

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "event": self.event, "digest": self.digest,
                "actor": self.actor, "time": timestamp(self.time), "endpoint": self.endpoint,
                "replicas": self.replicas, "stage": self.stage, "historyEntry": self.history_entry}


def deployment_predicate(*, environment: str, event: str, digest: str, actor: str, time: datetime | str,
                         endpoint: str | None = None, replicas: int | None = None, stage: str | None = None,
                         history_entry: str | None = None) -> dict[str, Any]:
    """The predicate of a deployment event of ``digest`` in ``environment``."""
    check_name("environment", environment)
    if event not in EVENTS:
        raise UsageError(f"event must be one of {', '.join(EVENTS)}, not {str(event)[:40]!r}")
    for key, value in (("digest", digest), ("historyEntry", history_entry)):
        if (value is not None or key == "digest") and (not isinstance(value, str) or not _DIGEST.fullmatch(value)):
            raise UsageError(f"{key} {str(value)[:80]!r} is not sha256:<64 hex>")
    if not isinstance(actor, str) or not actor or len(actor) > MAX_TEXT:
        raise UsageError("a deployment record needs the actor's identity")
    if endpoint is not None and (not isinstance(endpoint, str) or not _URI.fullmatch(endpoint)):
        raise UsageError(f"endpoint {str(endpoint)[:80]!r} is not a URL (scheme://…)")
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int)
                                 or not 0 <= replicas <= MAX_REPLICAS):
        raise UsageError(f"replicas must be a whole number from 0 to {MAX_REPLICAS}")
    if stage is not None:
        check_name("stage", stage)
    return {"environment": environment, "event": event, "digest": digest, "endpoint": endpoint,
            "replicas": replicas, "actor": actor, "time": timestamp(time), "stage": stage,
            "historyEntry": history_entry}


def parse_deployment(predicate: Any) -> DeploymentFields:
    """Check a verified deployment predicate; :class:`SignatureError` naming the bad field."""
    f = rebuilt("deployment", predicate, deployment_predicate, _FIELDS)
    return DeploymentFields(f["environment"], f["event"], f["digest"], f["actor"], datetime.fromisoformat(f["time"]),
                            f["endpoint"], f["replicas"], f["stage"], f["historyEntry"])
