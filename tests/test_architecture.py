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
                 "modelcrate.graphcopy", "modelcrate.api", "modelcrate.packing", "modelcrate.unpacking"}
    assert not {i for i in imports for f in forbidden if i == f or i.startswith(f + ".")}


@pytest.mark.parametrize("path", [p for p in PKG.rglob("*.py") if "cli" not in p.parts], ids=lambda p: str(p.relative_to(PKG)))
def test_only_the_cli_imports_click_or_prints(path: Path) -> None:
    assert not any(i == "click" or i.startswith("click.") for i in _imports(path))
    calls = [n for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert not calls, f"{path.name} prints; operations return values and the CLI renders them"


# The operations layer and the interfaces above it; content/ (stores, the registry Target) sits below them.
OPERATIONS = ("modelcrate.graphcopy", "modelcrate.transfer", "modelcrate.packing", "modelcrate.unpacking",
              "modelcrate.targets", "modelcrate.housekeeping", "modelcrate.index", "modelcrate.serving",
              "modelcrate.compare", "modelcrate.lineage_graph",
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


# The environment is read at the edge only: Config.from_env (config.py), the public API's defaults
# (api.py) and the CLI. Everything below takes a Config or plain values.
EDGE = {"config.py", "api.py", "lifecycle/api.py"}  # the public APIs by reference string
ENV_READERS_BELOW_THE_EDGE = {
    # passes this process's environment through to the git child (PATH, HOME), reads no setting from it
    "provenance.py",
    # the registry layer's own defaults for callers that pass no settings (RemoteSettings.from_env,
    # credentials.config_dir); modelcrate's operations always pass Config.registry() down
    "content/remote/credentials.py", "content/remote/client.py",
}


def _reads_environment(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in ("environ", "getenv", "environb", "putenv"):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_env" \
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "cls"):
            return True
    return False


@pytest.mark.parametrize("path", [p for p in PKG.rglob("*.py") if "cli" not in p.parts
                                  and p.relative_to(PKG).as_posix() not in EDGE | ENV_READERS_BELOW_THE_EDGE],
                         ids=lambda p: str(p.relative_to(PKG)))
def test_no_library_module_reads_the_environment(path: Path) -> None:
    assert not _reads_environment(ast.parse(path.read_text())), \
        f"{path.name} reads the environment; take a modelcrate.config.Config from the caller instead"


def test_the_allowed_environment_readers_still_exist() -> None:
    for name in ENV_READERS_BELOW_THE_EDGE:
        assert _reads_environment(ast.parse((PKG / name).read_text())), f"{name} no longer needs its exemption"


def _cli_graph() -> dict[str, set[str]]:
    graph = {}
    for path in _files("cli"):
        name = "modelcrate.cli" if path.name == "__init__.py" else f"modelcrate.cli.{path.stem}"
        graph[name] = {i for i in _imports(path) if i.startswith("modelcrate.cli.") and i.count(".") == 2
                       and (PKG / "cli" / f"{i.rsplit('.', 1)[1]}.py").exists()}
    return graph


def test_cli_has_no_import_cycles_and_the_group_imports_no_command_module() -> None:
    graph = _cli_graph()
    assert not graph["modelcrate.cli.app"] - {"modelcrate.cli.render", "modelcrate.cli.wording"}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError("import cycle in cli/: " + " -> ".join([*path, node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in graph.get(node, ()):
            visit(nxt, [*path, node])
        state[node] = 2

    for node in graph:
        visit(node, [])


@pytest.mark.parametrize("path", _files("cli"), ids=lambda p: p.name)
def test_cli_modules_import_no_private_name_of_another(path: Path) -> None:
    """Pieces several commands share live in app.py or a module named for them (signers.py,
    lifecycle_options.py) under public names; a command module's ``_names`` are its own."""
    reaches = [f"line {n.lineno}: {a.name} from {'.' * n.level}{n.module or ''}"
               for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)
               and (n.level == 1 or (n.module or "").startswith("modelcrate.cli"))
               for a in n.names if a.name.startswith("_")]
    assert not reaches


def test_import_modelcrate_imports_nothing_at_run_time() -> None:
    """The package's names load on first use (module __getattr__); only typing aids at import."""
    tree = ast.parse((PKG / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert set(names) <= {"__future__", "typing"}, names


def test_every_command_is_in_the_help_table_with_its_own_summary() -> None:
    """`modelcrate --help` lists commands from a static table; it must match the commands themselves."""
    import click

    from modelcrate.cli.app import COMMANDS, cli

    ctx = click.Context(cli)
    for name, (_module, summary) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None, name
        assert command.get_short_help_str(200) == summary, name
    assert set(cli.commands) == set(COMMANDS)


_IO_MODULES = {"socket", "http", "urllib", "subprocess", "shutil", "tempfile", "requests", "httpx", "urllib3"}


@pytest.mark.parametrize("path", _files("signing"), ids=lambda p: str(p.relative_to(PKG)))
def test_signing_is_pure(path: Path) -> None:
    """signing/ (bundles, statements, keys, x509) turns bytes into bytes: no network, no stores, no operations.

    keys.py's key-file writer is the one sanctioned file access (through fsutil); nothing opens sockets.
    """
    imports = _imports(path)
    forbidden = _IO_MODULES | {"modelcrate.content", "modelcrate.cli", "modelcrate.signatures", "modelcrate.graphcopy",
                               "modelcrate.transfer", "modelcrate.api", "modelcrate.packing", "modelcrate.unpacking",
                               "modelcrate.targets"}
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


def test_cli_imports_rich_only_inside_functions() -> None:
    """The progress renderer's library loads when bars are drawn, not when a command module loads."""
    for path in _files("cli"):
        top = [n for n in ast.parse(path.read_text()).body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names} | \
                {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
        assert not {n for n in names if n == "rich" or n.startswith("rich.")}, path.name


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


# What policy evaluation may not reach, directly or through what it imports: files, stores, the network,
# the operations. Evidence is gathered and verified before evaluation (policy/evidence.py, policy/load.py).
_IMPURE = {"os", "io", "pathlib", "shutil", "tempfile", "socket", "http", "urllib", "subprocess", "sqlite3",
           "importlib.resources", "modelcrate.content", "modelcrate.cli", "modelcrate.graphcopy", "modelcrate.api",
           "modelcrate.transfer", "modelcrate.targets", "modelcrate.signatures", "modelcrate.governance",
           "modelcrate.packing", "modelcrate.unpacking", "modelcrate.config", "modelcrate.policy.load",
           "modelcrate.policy.evidence", "modelcrate.policy.approvals", "modelcrate._internal"}


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
        bad = {i for i in imports for f in _IMPURE if i == f or i.startswith(f + ".")}
        assert not bad, f"{module} reaches I/O through {name}: {sorted(bad)}"
        calls = [n for n in ast.walk(ast.parse(file.read_text()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "open"]
        assert not calls, f"{name} opens files"


@pytest.mark.parametrize("module", ["report/html.py", "report/markdown.py", "report/charts.py", "report/clauses.py",
                                    "signing/deployment.py", "signing/attachment.py"])
def test_report_renderers_and_record_predicates_are_pure(module: str) -> None:
    """The report's renderers work on the gathered document only; record predicates turn values into dicts."""
    allowed = ("modelcrate.errors", "modelcrate.signing.predicates", "modelcrate.report.charts",
               "modelcrate.report.clauses")
    own = {i for i in _imports(PKG / module) if i.startswith("modelcrate.") and i != "modelcrate.report"}
    assert {i for i in own if not i.startswith(allowed)} == set()
    assert not {i for i in _imports(PKG / module) if i.split(".")[0] in ("os", "socket", "subprocess", "urllib", "http")}


@pytest.mark.parametrize("path", _files("tracking") + _files("report"), ids=lambda p: str(p.relative_to(PKG)))
def test_tracking_and_report_stay_below_the_cli(path: Path) -> None:
    """Deployments, attachments, events and the report are library code: no CLI, and no module over 700 lines."""
    assert not {i for i in _imports(path) if i.startswith("modelcrate.cli")}
    assert len(path.read_text().splitlines()) <= 700


_PURE_READERS = ([*_files("facts")] + [PKG / "scan" / n for n in ("result.py", "allowlist.py", "pickles.py")]
                 + [PKG / "importers" / n for n in ("common.py", "huggingface.py", "mlflow.py", "kitops.py",
                                                     "modctl.py")] + [PKG / "foreign.py"])


@pytest.mark.parametrize("path", _PURE_READERS, ids=lambda p: str(p.relative_to(PKG)))
def test_readers_of_untrusted_formats_are_pure(path: Path) -> None:
    """Header facts, the pickle walker, the scan result and the importers' mappings read bytes they are
    given: no stores, no transport, no operations, no CLI, and never pickle or marshal."""
    imports = _imports(path)
    forbidden = {"socket", "http", "urllib", "subprocess", "pickle", "marshal", "shelve", "modelcrate.content",
                 "modelcrate.cli", "modelcrate.graphcopy", "modelcrate.api", "modelcrate.packing",
                 "modelcrate.unpacking", "modelcrate.transfer", "modelcrate.targets", "modelcrate.signatures"}
    assert not {i for i in imports for f in forbidden if i == f or i.startswith(f + ".")}


@pytest.mark.parametrize("path", [p for p in _files("cli") if p.name not in ("render.py", "app.py")],
                         ids=lambda p: p.name)
def test_cli_prints_through_the_one_escape(path: Path) -> None:
    """Human-readable lines go through cli/render.echo (terminal controls escaped), never click.echo."""
    calls = [n.lineno for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Attribute) and n.attr in ("echo", "secho") and isinstance(n.value, ast.Name)
             and n.value.id == "click"]
    assert not calls, f"{path.name} calls click.echo on lines {calls}; use render.echo"


@pytest.mark.parametrize("path", _files("index") + _files("serving") + [PKG / "compare.py", PKG / "lineage_graph.py"],
                         ids=lambda p: str(p.relative_to(PKG)))
def test_discovery_and_serving_stay_below_the_interfaces(path: Path) -> None:
    """Search, diff, lineage and the serving handoff are operations: they never reach into the CLI or the API."""
    imports = _imports(path)
    assert not {i for i in imports if i.startswith(("modelcrate.cli", "modelcrate.api"))}
