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


@pytest.mark.parametrize("path", _files("content"), ids=lambda p: str(p.relative_to(PKG)))
def test_content_does_not_reach_up(path: Path) -> None:
    imports = _imports(path)
    assert not {i for i in imports if i.startswith(("modelcrate.cli", "modelcrate.api", "modelcrate.copy"))}


_IO_MODULES = {"socket", "http", "urllib", "subprocess", "shutil", "tempfile", "requests", "httpx", "urllib3"}


@pytest.mark.parametrize("path", _files("signing"), ids=lambda p: str(p.relative_to(PKG)))
def test_signing_is_pure(path: Path) -> None:
    """signing/ (bundles, statements, keys, x509) turns bytes into bytes: no network, no stores, no operations.

    keys.py's key-file writer is the one sanctioned file access (through fsutil); nothing opens sockets.
    """
    imports = _imports(path)
    forbidden = _IO_MODULES | {"modelcrate.content", "modelcrate.cli", "modelcrate.signatures", "modelcrate.copy",
                               "modelcrate.transfer", "modelcrate.api", "modelcrate.pack", "modelcrate.unpack"}
    assert not {i for i in imports for f in forbidden if i == f or i.startswith(f + ".")}


def test_x509_helpers_do_no_io() -> None:
    """signing/x509.py takes bytes and certificates only: no file, OS or network access at all."""
    path = PKG / "signing" / "x509.py"
    imports = _imports(path)
    assert not {i for i in imports if i.split(".")[0] in _IO_MODULES | {"os", "pathlib", "io"}}
    calls = {n.func.id for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "open" not in calls


@pytest.mark.parametrize("path", _files("signatures"), ids=lambda p: str(p.relative_to(PKG)))
def test_signatures_never_reach_the_cli(path: Path) -> None:
    """The signature operations return values; only cli/ renders them (and adds flag hints)."""
    imports = _imports(path)
    assert not {i for i in imports if i == "click" or i.startswith(("click.", "modelcrate.cli"))}


def test_signatures_is_a_package_of_small_modules() -> None:
    assert not (PKG / "signatures.py").exists()
    for path in _files("signatures"):
        assert len(path.read_text().splitlines()) <= 700, path.name


@pytest.mark.parametrize("name", ["chain.py", "records.py", "stages.py"])
def test_lifecycle_records_and_chain_are_pure(name: str) -> None:
    """The lifecycle's record builders and chain verification take bytes and verified facts, never a store."""
    imports = _imports(PKG / "lifecycle" / name)
    allowed = ("modelcrate.errors", "modelcrate.format", "modelcrate.signing", "modelcrate.lifecycle.records",
               "modelcrate.lifecycle.chain", "__future__", "collections", "dataclasses", "datetime", "re", "typing")
    assert not {i for i in imports if not any(i == a or i.startswith(a + ".") for a in allowed)}, \
        "pure modules import only pure layers"


def test_lifecycle_does_not_reach_into_the_cli() -> None:
    for path in _files("lifecycle"):
        assert not {i for i in _imports(path) if i.startswith(("modelcrate.cli", "modelcrate.api"))}, path.name


_IO_MODULES = {"os", "io", "pathlib", "shutil", "tempfile", "socket", "http", "urllib", "subprocess", "sqlite3",
               "importlib.resources", "modelcrate.content", "modelcrate.cli", "modelcrate.copy", "modelcrate.api",
               "modelcrate.transfer", "modelcrate.signatures", "modelcrate.governance", "modelcrate.pack",
               "modelcrate.unpack", "modelcrate.policy.load", "modelcrate.policy.evidence",
               "modelcrate.policy.approvals", "modelcrate._internal"}


def _module_file(name: str) -> Path | None:
    base = PKG.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _closure(path: Path) -> dict[str, Path]:
    """Every modelcrate module ``path`` imports, directly or through other modelcrate modules."""
    seen: dict[str, Path] = {}
    todo = [path]
    while todo:
        for name in _imports(todo.pop()):
            found = _module_file(name) if name.startswith("modelcrate.") else None
            if found is not None and name not in seen and found.name != "__init__.py":
                seen[name] = found
                todo.append(found)
    return seen


@pytest.mark.parametrize("module", ["policy/evaluate.py", "policy/rules.py", "policy/gates.py", "signing/approval.py"])
def test_policy_evaluation_is_pure(module: str) -> None:
    """Evaluation decides over verified facts; reading files, stores or registries happens in evidence/load."""
    path = PKG / module
    for name, file in {module: path, **_closure(path)}.items():
        imports = _imports(file)
        bad = {i for i in imports for f in _IO_MODULES if i == f or i.startswith(f + ".")}
        assert not bad, f"{module} reaches I/O through {name}: {sorted(bad)}"
        calls = [n for n in ast.walk(ast.parse(file.read_text()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "open"]
        assert not calls, f"{name} opens files"
