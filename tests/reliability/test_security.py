"""Security properties of the whole source, proved here: no shell anywhere, by an AST scan of the
kernel and of every plugin under plugins/. A plugin's backends' own properties (prompts never in
argv, names validated, secrets never shown, TLS verified, bounded reads) are proved in its suite."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = [ROOT / "ultra_llm", *sorted((ROOT / "plugins").glob("*/ultra_llm_*"))]


def python_sources() -> Iterator[Path]:
    for directory in SOURCE_DIRS:
        yield from sorted(directory.rglob("*.py"))


def test_the_scan_sees_every_package() -> None:
    """The kernel, the mock and the package of every distribution under plugins/ (its directory's name
    with underscores: plugins/ultra-llm-mock holds ultra_llm_mock)."""
    names = {path.name for path in SOURCE_DIRS}
    distributions = {path.parent.name for path in (ROOT / "plugins").glob("*/pyproject.toml")}
    assert {"ultra_llm", "ultra_llm_mock"} <= names
    assert len(distributions) > 1 and {name.replace("-", "_") for name in distributions} <= names
    assert sum(1 for _ in python_sources()) > 30


def test_no_shell_anywhere_in_the_source() -> None:
    """AST scan: no ``shell=True``, ``os.system``/``os.popen``, ``create_subprocess_shell``, ``getoutput``."""
    forbidden_calls = {"system", "popen", "create_subprocess_shell", "getoutput", "getstatusoutput"}
    found: list[str] = []
    for path in python_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in forbidden_calls:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {name}")
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} passes shell=")
    assert found == []


def test_the_scan_would_catch_a_shell(tmp_path: Path) -> None:
    """The scanner itself works: it flags each forbidden form in a sample."""
    sample = "import os, subprocess, asyncio\nos.system('x')\nsubprocess.run('x', shell=True)\n"
    sample += "asyncio.create_subprocess_shell('x')\n"
    tree = ast.parse(sample)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert sum(
        isinstance(c.func, ast.Attribute) and c.func.attr in {"system", "create_subprocess_shell"} for c in calls
    )
    assert any(k.arg == "shell" for c in calls for k in c.keywords)
