"""The old name of :class:`modelcrate.config.Config`, kept so existing imports keep working."""

from .config import Config as Settings

__all__ = ["Settings"]
