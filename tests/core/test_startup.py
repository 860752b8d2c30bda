"""Start-up stays light: importing ultra_llm and loading plugins import no backend or heavy module."""

from __future__ import annotations

import json
import subprocess
import sys

from ultra_llm._host import PluginHost


def installed_backend_modules() -> set[str]:
    """The module of every installed plugin's backend registered by name (``"module:Class"``)."""
    targets = [spec.target for spec in PluginHost(environ={}).backends().values()]  # every plugin, whatever is set
    return {target.partition(":")[0] for target in targets if isinstance(target, str)}


BACKENDS = installed_backend_modules()
HEAVY = [
    "httpx",
    "httpx2",
    "stamina",
    "tenacity",
    "pydantic_settings",
    "pydantic_core",
    "ultra_llm._config",
    "ultra_llm_mock.backend",
    *sorted(BACKENDS - {"ultra_llm_mock.backend"}),
    "asyncio",
]


def test_every_installed_backend_module_is_checked() -> None:
    assert "ultra_llm_mock.backend" in BACKENDS and set(BACKENDS) <= set(HEAVY)


def modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_ultra_llm_is_light() -> None:
    loaded = modules_after("import ultra_llm")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "subprocess" not in loaded


def test_loading_every_plugin_is_light() -> None:
    loaded = modules_after("from ultra_llm._host import PluginHost\nh = PluginHost()\nh.backends()")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_plugins_command_builds_no_settings_and_no_backend() -> None:
    code = (
        "import sys\nfrom ultra_llm._cli import main\n"
        "try:\n    main(['plugins', '--json'])\nexcept SystemExit:\n    pass\n"
    )
    loaded = modules_after(code)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_generate_on_the_mock_builds_no_pydantic_model() -> None:
    """A call with no options needs no options model: ``generate hello`` imports no pydantic at all
    (its import and a validator build are most of a cold start); a call with options does."""
    plain = "from ultra_llm._cli import main\ntry:\n    main(['generate', 'hello'])\nexcept SystemExit:\n    pass"
    assert not modules_after(plain) & {"pydantic", "pydantic_core", "pydantic_settings"}
    with_options = plain.replace("'hello'", "'-o', 'max_tokens=2', 'hello'")
    assert "pydantic_core" in modules_after(with_options)
