"""The code's layout rules, checked: no import cycles, SQL only in collector/storage/, and
no module in collector/ over about 500 lines without a reason in its docstring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500  # a longer module says why in its docstring (it names its lines)
# Outside storage a module may name a connection (a type) or catch a database error,
# but never build SQL.
ALLOWED_SQLALCHEMY = {("sqlalchemy", "Connection"), ("sqlalchemy.exc", "*")}


def modules(package: str) -> dict[str, Path]:
    """Dotted name -> file, for every module of a top-level package of the repository."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that this module imports, anywhere in it (functions too), but
    not under `if TYPE_CHECKING:`, and not its own parent packages (already running)."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and not name.startswith(target + ".") and target != name:
                found.add(target)
    return found


def cycles(package: str) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    known = modules(package)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", ["collector", "bench", "demo_shop"])
def test_no_import_cycles(package: str):
    assert cycles(package) == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from . import b\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    from .a import x\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert cycles("pkg") == [["pkg.a", "pkg.b"]]


def test_sql_lives_only_in_storage():
    built_elsewhere = []
    for name, path in modules("collector").items():
        if name.startswith("collector.storage"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                for alias in node.names:
                    if {(node.module, alias.name), (node.module, "*")} & ALLOWED_SQLALCHEMY:
                        continue
                    built_elsewhere.append(f"{name}: from {node.module} import {alias.name}")
            elif isinstance(node, ast.Import) and any(
                alias.name.startswith("sqlalchemy") for alias in node.names
            ):
                built_elsewhere.append(f"{name}: import sqlalchemy")
    assert built_elsewhere == []


def test_no_module_is_long_without_saying_why():
    long_and_silent = []
    for name, path in modules("collector").items():
        source = path.read_text()
        lines = source.count("\n")
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if lines > MAX_LINES and "lines" not in docstring:
            long_and_silent.append(f"{name}: {lines} lines")
    assert long_and_silent == []
