"""The public surface is the documented one (docs/stability.md): plugins import only public modules,
and every kernel type a public call returns can be imported from one.

The public modules are ``ultra_llm`` (applications), ``ultra_llm.plugin`` (plugin authors),
``ultra_llm.errors``, the test kit ``ultra_llm.testing`` (with its submodules) and the web router
Ultra mounts, ``ultra_llm.web``. Everything else in the kernel is an ``_implementation`` module.

The shipped plugins are checked without their tests (which may reach into the kernel to test it);
the example plugin, which authors copy, is checked whole. Sources are read, not imported, so this
runs with only the kernel installed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

import ultra_llm

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_MODULES = ("ultra_llm", "ultra_llm.plugin", "ultra_llm.errors", "ultra_llm.web")
"""The public modules whose ``__all__`` is their contract (``ultra_llm.testing`` is checked as a package)."""
TEST_KIT = "ultra_llm.testing"
SHIPPED = sorted(path.parent for path in (ROOT / "plugins").glob("*/pyproject.toml"))
EXAMPLE = ROOT / "docs" / "examples" / "ultra-llm-example"
TARGET = re.compile(r"ultra_llm(?:\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_.]*")
"""A whole string naming a kernel object as registrars take one: ``"ultra_llm.x:Name"``."""
IMPORTERS = {"import_module", "__import__"}


def public_names(module: str) -> set[str]:
    """What ``module`` promises: its ``__all__`` (read from the source, so nothing is imported)."""
    path = ROOT / Path(*module.split("."))
    source = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{module} has no __all__")


def is_public_module(module: str) -> bool:
    return module in PUBLIC_MODULES or module == TEST_KIT or module.startswith(TEST_KIT + ".")


def violations(source: str, where: str) -> Iterator[str]:
    """Each use of the kernel in ``source`` that the public surface does not name."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "ultra_llm":
                continue
            if not is_public_module(node.module):
                yield f"{where}:{node.lineno}: from {node.module} import ... (not a public module)"
            elif node.module in PUBLIC_MODULES:
                names = public_names(node.module)
                for alias in node.names:
                    if alias.name not in names and f"{node.module}.{alias.name}" not in PUBLIC_MODULES:
                        yield f"{where}:{node.lineno}: {node.module}.{alias.name} is not in its __all__"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ultra_llm" and not is_public_module(alias.name):
                    yield f"{where}:{node.lineno}: import {alias.name} (not a public module)"
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in IMPORTERS:
            named = node.args[0] if node.args else None
            text = named.value if isinstance(named, ast.Constant) and isinstance(named.value, str) else ""
            if text.split(".")[0] == "ultra_llm" and not _public_path(text):
                yield f"{where}:{node.lineno}: import_module({text!r}) names a private kernel module"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and TARGET.fullmatch(node.value)
            and not _public_path(node.value.replace(":", "."))
        ):
            yield f"{where}:{node.lineno}: {node.value!r} names a private kernel object"


def _public_path(dotted: str) -> bool:
    """``ultra_llm.plugin.Backend`` or ``ultra_llm.errors``: a public module, or a public name in one."""
    if is_public_module(dotted):
        return True
    module, _, name = dotted.rpartition(".")
    return module.startswith(TEST_KIT) or (module in PUBLIC_MODULES and name in public_names(module))


def entry_point_violations(pyproject: Path) -> Iterator[str]:
    """Entry points (``[project.entry-points]``) that name a private kernel module."""
    data = tomllib.loads(pyproject.read_text())
    for group, points in data.get("project", {}).get("entry-points", {}).items():
        for name, target in points.items():
            module = target.split(":", 1)[0]
            if module.split(".")[0] == "ultra_llm" and not is_public_module(module):
                yield f"{pyproject}: [{group}] {name} = {target!r} names a private kernel module"


def sources(distribution: Path, *, with_tests: bool) -> Iterator[Path]:
    for path in sorted(distribution.rglob("*.py")):
        relative = path.relative_to(distribution).parts
        if ".venv" in relative or "build" in relative[:1]:
            continue
        if with_tests or "tests" not in relative:
            yield path


def test_the_checker_catches_private_imports_names_and_strings() -> None:
    """The scanner itself: each form a plugin could reach a private module by is reported."""
    source = (
        "from ultra_llm._host import get_host\n"
        "import ultra_llm._adapter\n"
        "from ultra_llm.plugin import Backend, _not_public\n"
        "from ultra_llm import errors\n"
        "from ultra_llm.testing.serve import free_port\n"
        "x = 'ultra_llm._selection:instantiate'\n"
        "y = 'ultra_llm.plugin:Backend'\n"
        "z = importlib.import_module('ultra_llm._host')\n"
        "meter = 'ultra_llm.metrics'\n"
    )
    found = list(violations(source, "example.py"))
    assert sorted(line.split(": ", 1)[0] for line in found) == [
        "example.py:1",
        "example.py:2",
        "example.py:3",
        "example.py:6",
        "example.py:8",
    ]
    assert "ultra_llm.plugin._not_public" in found[2]


@pytest.mark.parametrize(
    ("distribution", "with_tests"),
    [(path, False) for path in SHIPPED] + [(EXAMPLE, True)],
    ids=[path.name for path in SHIPPED] + ["example (with its tests)"],
)
def test_plugins_import_only_the_public_surface(distribution: Path, with_tests: bool) -> None:
    found = [
        problem
        for path in sources(distribution, with_tests=with_tests)
        for problem in violations(path.read_text(), str(path.relative_to(ROOT)))
    ]
    found += list(entry_point_violations(distribution / "pyproject.toml"))
    assert not found, "import these from ultra_llm.plugin, ultra_llm or ultra_llm.errors:\n" + "\n".join(found)


def test_the_kernels_own_entry_points_name_public_or_private_modules_that_exist() -> None:
    """The console script and pytest plugin point at modules that import (after any rename)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    targets = [*data["project"]["scripts"].values()]
    targets += [t for group in data["project"].get("entry-points", {}).values() for t in group.values()]
    for target in targets:
        module, _, attribute = target.partition(":")
        imported = importlib.import_module(module)
        assert not attribute or getattr(imported, attribute.split(".")[0]) is not None, target


def _kernel_modules() -> Iterator[str]:
    yield "ultra_llm"
    for info in pkgutil.walk_packages(ultra_llm.__path__, "ultra_llm."):
        yield info.name


def _kernel_types() -> dict[str, set[str]]:
    """Every class the kernel defines, by name: name -> the modules defining one so named."""
    defined: dict[str, set[str]] = {}
    for name in _kernel_modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == name:
                defined.setdefault(attribute, set()).add(name)
    return defined


def _public_objects() -> Iterator[tuple[str, object]]:
    for name in (*PUBLIC_MODULES, TEST_KIT):
        module = importlib.import_module(name)
        for attribute in module.__all__:
            yield f"{name}.{attribute}", getattr(module, attribute)


def _returns(qualified: str, value: object) -> Iterator[tuple[str, str]]:
    """``(where, return annotation text)`` for a public function, and a public class's public
    methods and properties."""

    def annotation_of(function: object) -> str | None:
        try:
            annotation = inspect.signature(function).return_annotation  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if annotation is inspect.Signature.empty:
            return None
        return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))

    if inspect.isclass(value):
        for attribute, member in vars(value).items():
            if attribute.startswith("_") and attribute not in ("__aenter__", "__enter__"):
                continue
            if isinstance(member, property):
                member = member.fget
            elif isinstance(member, (classmethod, staticmethod)):
                member = member.__func__
            if inspect.isfunction(member) and (text := annotation_of(member)):
                yield f"{qualified}.{attribute}", text
    elif inspect.isfunction(value) and (text := annotation_of(value)):
        yield qualified, text


def test_every_kernel_type_a_public_call_returns_is_public() -> None:
    kernel_types = _kernel_types()
    exported: set[str] = set()
    for name in (*PUBLIC_MODULES, TEST_KIT):
        exported |= set(importlib.import_module(name).__all__)
    missing = []
    for qualified, value in _public_objects():
        for where, text in _returns(qualified, value):
            for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
                if word in kernel_types and word not in exported and not word.startswith("_"):
                    missing.append(f"{where} returns {word} (defined in {', '.join(sorted(kernel_types[word]))})")
    assert not missing, "export these from a public module:\n" + "\n".join(sorted(set(missing)))


def test_the_checked_public_calls_include_the_adapter_and_the_backend() -> None:
    """The walk above sees the classes it must: a guard against it silently checking nothing."""
    walked = {where for qualified, value in _public_objects() for where, _ in _returns(qualified, value)}
    assert {"ultra_llm.Adapter.generate", "ultra_llm.plugin.Backend.list_models", "ultra_llm.create_adapter"} <= walked
