"""Ultra's 0.3 imports from ``ultra_llm`` keep working for one release, through the kernel's one shim:
each reaches the Docker family lazily with one ``DeprecationWarning`` naming the new import and the
release that removes it; without the family, an ``ImportError`` naming the package to install."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MOVED = [
    "create_modelrunner_adapter",
    "create_modelrunner_cli_adapter",
    "get_available_models",
    "Capabilities",
    "ModelRunnerAdapter",
    "UncheckedModelRunnerAdapter",
]

_IMPORT_EACH = """
import json, sys, warnings
{block}
found = {{}}
for name in {names!r}:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(f"from ultra_llm import {{name}}")
            value = eval(name)
            found[name] = {{"module": value.__module__, "warnings": [
                (w.category.__name__, str(w.message), w.filename) for w in caught]}}
        except ImportError as exc:
            found[name] = {{"error": str(exc), "warnings": [str(w.message) for w in caught]}}
import ultra_llm.errors
found["ModelLoadedError"] = ultra_llm.errors.ModelLoadedError.__module__
print(json.dumps(found))
"""


def _import_each(block: str = "") -> dict[str, object]:
    code = _IMPORT_EACH.format(block=block, names=MOVED)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_each_moved_name_imports_with_one_warning_naming_the_new_import_and_the_release() -> None:
    found = _import_each()
    for name in MOVED:
        entry = found[name]
        assert isinstance(entry, dict) and entry["module"] == "ultra_llm_docker.compat", entry
        assert len(entry["warnings"]) == 1, entry  # `from ultra_llm import x` looks it up twice: warned once
        category, message, filename = entry["warnings"][0]
        assert category == "DeprecationWarning" and filename == "<string>", "it points at the importer"
        assert f"from ultra_llm_docker.compat import {name}" in message and "ultra-llm 0.5" in message
    assert found["ModelLoadedError"] == "ultra_llm.errors", "the kernel's own: catch it as before"


def test_without_the_family_each_moved_name_is_an_import_error_naming_the_package() -> None:
    found = _import_each("sys.modules['ultra_llm_docker'] = None  # as if not installed")
    for name in MOVED:
        entry = found[name]
        assert isinstance(entry, dict) and "error" in entry, entry
        assert "`pip install ultra-llm-docker`" in entry["error"] and name in entry["error"]
        assert entry["warnings"] == []
    assert found["ModelLoadedError"] == "ultra_llm.errors"


def test_a_name_never_exported_is_still_an_attribute_error() -> None:
    import ultra_llm

    with pytest.raises(AttributeError):
        _ = ultra_llm.create_runner_adapter  # type: ignore[attr-defined]
