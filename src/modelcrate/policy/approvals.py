"""Write approval and rejection records: signed statements about one model digest for one stage.

An approval is an in-toto statement (predicate ``https://modelcrate.dev/approval/v1``,
:mod:`modelcrate.signing.approval`) attached as a referrer of the model through the signed-record layer,
so it lives in the registry beside the model and is found by :mod:`.evidence`. The actor field is the
signer's own description; the identity that counts is the one the policy's verifier reports.
"""

from __future__ import annotations

from datetime import datetime

from ..content.target import Target
from ..format.descriptor import Descriptor
from ..signatures import Signer, Stored, attach_record
from ..signing.approval import APPROVAL_V1, approval_predicate


def record_decision(target: Target, subject: Descriptor, name: str, signer: Signer, *, stage: str,
                    decision: str, created: datetime, comment: str | None = None) -> Stored:
    """Sign and attach ``decision`` ("approve" or "reject") of ``subject`` for ``stage``."""
    predicate = approval_predicate(stage=stage, decision=decision, subject_digest=subject.digest,
                                   actor=signer.description, time=created, comment=comment)
    return attach_record(target, subject, name, signer, APPROVAL_V1, predicate, created=created)
