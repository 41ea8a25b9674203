"""What happens to a model after it is released, as signed records in the registry (spec/deployment.md):
where it runs (:mod:`.deployments`), the documents attached to it (:mod:`.attachments`), how it performs
(:mod:`.metrics`), and every governance event in time order (:mod:`.events`).

Each record type is a predicate (pure, in :mod:`modelcrate.signing`) written with
:func:`modelcrate.signatures.attach_record` and found with :func:`modelcrate.signatures.collect_records`:
no other storage path. :mod:`.api` offers the operations by reference strings.
"""
