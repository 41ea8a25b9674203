"""The audit report: one document that tells a model's whole story (spec/deployment.md "The audit report").

:mod:`.evidence` gathers and verifies everything once into a plain document (the JSON form, validated by
spec/report.schema.json); :mod:`.html` and :mod:`.markdown` render that document and do no I/O;
:mod:`.charts` draws its inline SVG; :mod:`.clauses` maps its sections to EU AI Act Annex IV and the NIST
AI RMF; :mod:`.bundle` writes the evidence itself as an OCI layout for offline re-verification.
"""

REPORT_V1 = "https://modelcrate.dev/report/v1"
