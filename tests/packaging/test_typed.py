"""Every distribution ships ``py.typed``, so ``mypy --strict`` of an installed third-party plugin
checks it against ultra-llm's types (without the marker mypy would skip ultra_llm as untyped).

The wheels are built offline from a copy of each distribution's files (``pip wheel
--no-build-isolation``, so the checkout gets no ``build/``) and unpacked into a directory that mypy
sees as installed packages (``PYTHONPATH``), as a plugin author's environment would have them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted(path.parent for path in (ROOT / "plugins").glob("*/pyproject.toml"))
"""Every distribution shipped beside the kernel: ``plugins/NAME`` holds the package ``NAME`` with ``_``."""
DISTRIBUTIONS = {"ultra_llm": ROOT, **{path.name.replace("-", "_"): path for path in PLUGINS}}


def test_every_shipped_distribution_is_checked() -> None:
    assert {"ultra_llm", "ultra_llm_mock"} <= set(DISTRIBUTIONS) and len(DISTRIBUTIONS) == len(PLUGINS) + 1
    for package, root in DISTRIBUTIONS.items():
        assert (root / package / "__init__.py").is_file(), f"{root} has no package {package}"


A_THIRD_PARTY_PLUGIN = """
from __future__ import annotations

from ultra_llm.plugin import GenerationRequest, Result, hookimpl
from ultra_llm._middleware import GenerateNext, Middleware


class Upper(Middleware):
    async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
        result = await call_next(request)
        return result.text.upper()  # wrong: a str, not a Result


@hookimpl
def ultra_llm_middleware() -> Middleware:
    return Upper()
"""


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The package name -> the wheel built for it."""
    out = tmp_path_factory.mktemp("wheels")
    sources = [
        str(_copy_sources(package, root, tmp_path_factory.mktemp(package))) for package, root in DISTRIBUTIONS.items()
    ]
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out)]
    done = subprocess.run([*command, *sources], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    built = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(built) == set(DISTRIBUTIONS), sorted(built)
    return built


def _copy_sources(package: str, root: Path, into: Path) -> Path:
    """What the build reads: ``pyproject.toml``, a README if any, and the package's files."""
    for name in ("pyproject.toml", "README.md"):
        if (root / name).exists():
            shutil.copy(root / name, into / name)
    shutil.copytree(root / package, into / package, ignore=shutil.ignore_patterns("__pycache__"))
    return into


@pytest.mark.parametrize("package", sorted(DISTRIBUTIONS))
def test_every_wheel_ships_py_typed(wheels: dict[str, Path], package: str) -> None:
    names = zipfile.ZipFile(wheels[package]).namelist()
    assert f"{package}/py.typed" in names, f"{wheels[package].name} has no {package}/py.typed"


def test_mypy_strict_checks_an_installed_plugin_against_ultra_llms_types(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheels["ultra_llm"]).extractall(site)
    plugin = tmp_path / "project" / "upper_plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(textwrap.dedent(A_THIRD_PARTY_PLUGIN), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", plugin.name],
        cwd=plugin.parent,  # no project configuration: ultra_llm is found only as installed
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert lines == [
        'upper_plugin.py:11: error: Incompatible return value type (got "str", expected "Result")  [return-value]'
    ], done.stdout
