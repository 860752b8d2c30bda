"""No import cycles in the core or the shipped plugins, deferred imports included.

A cycle hidden behind an import inside a function still couples two modules both ways; this reads
every ``import`` statement of every module (``if TYPE_CHECKING:`` blocks excepted, and a
submodule's need of its own parent package, which Python always meets first) and looks for strongly
connected components of the module graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [ROOT / "ultra_llm", *sorted(path for path in (ROOT / "plugins").glob("*/ultra_llm_*") if path.is_dir())]


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for file in package.rglob("*.py"):
            parts = file.relative_to(package.parent).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = file
    return found


def imported(module: str, file: Path, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> set[str]:
    """The known modules an import statement of ``module`` needs (its own parent packages left out)."""
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if file.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, *([node.module] if node.module else [])])
        names = {f"{base}.{alias.name}" for alias in node.names}
        if node.module:
            names.add(base)
    parents = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return {name for name in names if name in known and name not in parents and name != module}


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for module, file in known.items():
        tree = ast.parse(file.read_text(encoding="utf-8"))
        guarded = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for sub in ast.walk(node)
        }
        edges[module] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in guarded:
                edges[module] |= imported(module, file, node, known)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    edges = graph()
    assert edges.get("ultra_llm._cli.app"), "the module graph was read"
    assert cycles(edges) == []
