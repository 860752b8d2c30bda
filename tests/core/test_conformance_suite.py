"""The conformance suite itself: it loads the backend through its installed entry point, so a
plugin that fails at import or registers a wrong ``"module:Class"`` fails it, saying why.

Each case installs a small distribution (a ``dist-info`` with its entry point, on ``PYTHONPATH``)
and runs pytest on a ``BackendConformance`` subclass in a subprocess, as a plugin author's CI would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BROKEN_AT_IMPORT = """
raise ImportError("cannot import name 'Thing' from 'somewhere'")
"""

WRONG_TARGET = """
from ultra_llm.plugin import hookimpl


@hookimpl
def ultra_llm_register_backends(register):
    register("wrong", "wrong_target_plugin:NoSuchBackend")
"""

CONFORMANCE = """
from ultra_llm.testing import BackendConformance


class TestTheBackend(BackendConformance):
    backend = "{backend}"
    model = "any"
"""


def install(site: Path, name: str, module: str, source: str) -> None:
    """A minimal installed distribution ``name`` whose ``ultra_llm`` entry point is ``module``."""
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[ultra_llm]\n{name} = {module}\n", encoding="utf-8")


def run_suite(tmp_path: Path, backend: str) -> subprocess.CompletedProcess[str]:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_conformance.py").write_text(CONFORMANCE.format(backend=backend), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ULTRA_LLM_", "PYTEST_"))}
    env["PYTHONPATH"] = str(tmp_path / "site")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "module", "source", "backend", "reason", "outcome"),
    [
        (
            "broken",
            "broken_plugin",
            BROKEN_AT_IMPORT,
            "broken",
            "import failed: ImportError: cannot import name",
            "1 error",  # an error outside a check, not a failed check
        ),
        (
            "wrong",
            "wrong_target_plugin",
            WRONG_TARGET,
            "wrong",
            "could not import 'wrong_target_plugin:NoSuchBackend'",
            "1 failed",
        ),
    ],
)
def test_the_suite_fails_on_a_broken_entry_point(
    tmp_path: Path, name: str, module: str, source: str, backend: str, reason: str, outcome: str
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(site, name, module, source)
    done = run_suite(tmp_path, backend)
    assert done.returncode == 1, done.stdout + done.stderr
    assert reason in done.stdout, done.stdout
    assert outcome in done.stdout, done.stdout


def test_a_failed_check_prints_the_values_it_compared(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(
        site,
        "misnamed",
        "misnamed_plugin",
        """
        from ultra_llm.plugin import hookimpl


        @hookimpl
        def ultra_llm_register_backends(register):
            register("misnamed", "ultra_llm_mock.backend:MockBackend")
        """,
    )
    done = run_suite(tmp_path, "misnamed")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the class registered as 'misnamed' ('ultra_llm_mock.backend:MockBackend') says its name is 'mock'" in (
        done.stdout
    ), done.stdout
