"""The search index: model metadata from registries and the local store, kept in SQLite.

``db`` is the schema, ``sync`` fills it from registries (manifests only, incremental by digest),
``expr`` parses ``--where`` expressions, ``records`` turns a manifest into searchable fields and
``search`` answers queries.
"""
