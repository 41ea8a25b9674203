"""Layering rules from the architecture, enforced by reading imports (no code runs)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "modelcrate"


def _imports(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against the package)."""
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    package = parts[:-1] if path.name != "__init__.py" else parts
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{alias.name}" for alias in node.names)
    return out


def _files(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


@pytest.mark.parametrize("path", _files("format"), ids=lambda p: p.name)
def test_format_is_pure(path: Path) -> None:
    """format/ does no I/O of its own and knows nothing of stores, transport or the CLI."""
    imports = _imports(path)
    forbidden = {"socket", "http", "urllib", "subprocess", "modelcrate.content", "modelcrate.cli",
                 "modelcrate.copy", "modelcrate.api", "modelcrate.pack", "modelcrate.unpack"}
    assert not {i for i in imports for f in forbidden if i == f or i.startswith(f + ".")}


@pytest.mark.parametrize("path", [p for p in PKG.rglob("*.py") if "cli" not in p.parts], ids=lambda p: str(p.relative_to(PKG)))
def test_only_the_cli_imports_click_or_prints(path: Path) -> None:
    assert not any(i == "click" or i.startswith("click.") for i in _imports(path))
    calls = [n for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert not calls, f"{path.name} prints; operations return values and the CLI renders them"


# The operations layer and the interfaces above it; content/ (stores, the registry Target) sits below them.
OPERATIONS = ("modelcrate.copy", "modelcrate.transfer", "modelcrate.pack", "modelcrate.unpack",
              "modelcrate.signatures", "modelcrate.api", "modelcrate.cli")


@pytest.mark.parametrize("path", _files("content"), ids=lambda p: str(p.relative_to(PKG)))
def test_content_does_not_reach_up(path: Path) -> None:
    """content/ (incl. remote/) never imports an operation or an interface."""
    imports = _imports(path)
    assert not {i for i in imports for op in OPERATIONS if i == op or i.startswith(op + ".")}


REMOTE = PKG / "content" / "remote"


@pytest.mark.parametrize("path", sorted(REMOTE.glob("*.py")), ids=lambda p: p.name)
def test_remote_modules_stay_small(path: Path) -> None:
    """One concern per module in content/remote: none grows past 700 lines."""
    assert len(path.read_text().splitlines()) <= 700


@pytest.mark.parametrize("path", sorted(REMOTE.glob("*.py")), ids=lambda p: p.name)
def test_remote_modules_use_only_public_members_of_other_objects(path: Path) -> None:
    """``x._name`` only on ``self``/``cls``: another object's internals are reached through a method."""
    reaches = [f"line {n.lineno}: {ast.unparse(n)}" for n in ast.walk(ast.parse(path.read_text()))
               if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")
               and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))]
    assert not reaches


def _module_level_imports(path: Path) -> set[str]:
    """Modules of content/remote that ``path`` imports when it is loaded (not under TYPE_CHECKING, not
    inside functions)."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            out.update(n.split(".")[0] for n in names)
    return out


def test_remote_modules_import_without_cycles() -> None:
    graph = {p.stem: _module_level_imports(p) for p in REMOTE.glob("*.py") if p.stem != "__init__"}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, "import cycle: " + " -> ".join((*path, name))
        if name in done:
            return
        for dep in graph.get(name, ()):
            visit(dep, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
