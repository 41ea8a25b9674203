"""The one check of a relative path named by an artifact (spec/format.md, "Reading")."""

from __future__ import annotations

from ..errors import UnsafePath

MAX_PATH = 4096


def safe_relpath(path: object) -> str:
    """Return the normalized relative POSIX path, or raise :class:`UnsafePath`.

    >>> safe_relpath("weights/./model.safetensors")
    'weights/model.safetensors'
    """
    if not isinstance(path, str) or not path:
        raise UnsafePath("artifact names an empty file path")
    shown = repr(path[:200])
    if "\x00" in path or "\\" in path or len(path.encode("utf-8", "surrogateescape")) > MAX_PATH:
        raise UnsafePath(f"artifact names an invalid file path {shown}")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise UnsafePath(f"artifact names an absolute path {shown}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"artifact path {shown} contains '..'")
    if not parts:
        raise UnsafePath(f"artifact names an invalid file path {shown}")
    return "/".join(parts)
