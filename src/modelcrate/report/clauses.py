"""Which report section serves which clause: EU AI Act Annex IV (technical documentation) and the NIST AI
RMF 1.0 core functions. A mapping to help a compliance officer find the evidence, not legal advice: the
sections supply evidence for these points; the provider still writes what only they know (e.g. Annex IV
1(a) intended purpose beyond the model card, 7 harmonised standards, 8 declaration of conformity).
"""

from __future__ import annotations

CLAUSES: tuple[dict[str, str], ...] = (
    {"section": "model-card", "title": "Model card",
     "annexIV": "1(a) intended purpose, provider, version; 1(b)-(d) interaction, versions, forms placed on the market",
     "nist": "MAP 1 (context established), MAP 2.1-2.2 (task, knowledge limits), GOVERN 1.6 (inventory)"},
    {"section": "files", "title": "Files",
     "annexIV": "1(c) versions of relevant software; 2(b) design specifications",
     "nist": "MAP 2.2, MEASURE 2.9 (the model is documented)"},
    {"section": "lineage", "title": "Lineage",
     "annexIV": "2(a) development methods, pre-trained systems and third-party tools used; 2(d) data sheets: "
                "training data, provenance",
     "nist": "MAP 4.1 (third-party components and data), GOVERN 6.1 (third-party risks)"},
    {"section": "signatures", "title": "Signatures and attestations",
     "annexIV": "2(g) test logs and reports, dated and signed by the responsible persons; 2(h) cybersecurity "
                "measures",
     "nist": "MEASURE 2.7 (security and resilience), GOVERN 6.1"},
    {"section": "approvals", "title": "Approvals",
     "annexIV": "2(g) signed by the responsible persons; 6 changes made through the lifecycle",
     "nist": "GOVERN 2.1 (roles and responsibilities), GOVERN 4.1, MANAGE 1.1 (go / no-go)"},
    {"section": "history", "title": "Stage history",
     "annexIV": "6 relevant changes made by the provider through the system's lifecycle",
     "nist": "MANAGE 4.1 (post-deployment monitoring, change management), GOVERN 1.6"},
    {"section": "deployments", "title": "Deployments",
     "annexIV": "1(d) forms in which the system is put into service; 9 post-market monitoring (Art. 72)",
     "nist": "MANAGE 4.1, MANAGE 2.4 (supersede, disengage, deactivate)"},
    {"section": "metrics", "title": "Metrics over time",
     "annexIV": "2(g) validation and testing, metrics used; 3 performance and its limits; 4 appropriateness of "
                "the performance metrics; 9 post-market monitoring",
     "nist": "MEASURE 1.1, MEASURE 2.3-2.5 (performance, validity), MEASURE 3.1 (tracking over time)"},
    {"section": "documents", "title": "Attached documents",
     "annexIV": "2(g) validation reports; 5 risk management system (Art. 9) via risk assessments; 8 EU "
                "declaration of conformity when attached",
     "nist": "GOVERN 1.4 (documented risk management), MAP 5.1 (impacts), MANAGE 1.3"},
    {"section": "scan", "title": "Unsafe-format scan",
     "annexIV": "2(h) cybersecurity measures",
     "nist": "MEASURE 2.7 (security and resilience)"},
    {"section": "policy", "title": "Policy evaluation",
     "annexIV": "2(g) pre-determined acceptance criteria; 5 risk management measures",
     "nist": "GOVERN 1.2 (policies), MANAGE 1.1, MEASURE 2.1"},
    {"section": "limitations", "title": "Limitations and risks",
     "annexIV": "3 capabilities and limitations, foreseeable unintended outcomes and sources of risk",
     "nist": "MAP 5.1 (impacts), MEASURE 2.11 (fairness and bias), MANAGE 2"},
)
