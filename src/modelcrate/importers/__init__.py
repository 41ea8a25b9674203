"""Importers: metadata and file kinds from the files a model directory already has.

Each format module (:mod:`.huggingface`, :mod:`.mlflow`, :mod:`.kitops`, :mod:`.modctl`) is a pure mapping
from the parsed source file to a :class:`~.common.Draft`; :mod:`.detect` finds the sources in a directory,
merges the drafts, adds facts read from weight headers and writes modelcrate.yaml.
"""
