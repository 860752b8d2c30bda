"""A plugin built for another kernel is refused at load, with both versions and what to install.

A plugin module declares ``ULTRA_LLM_CONTRACT`` (``ultra_llm._contract``); the host checks it before
registering anything, so a family built for another contract adds no hooks, backends or commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ultra_llm
from tests.core.plugins import install_distribution
from ultra_llm._contract import version_in
from ultra_llm._host import PluginHost
from ultra_llm.errors import PluginError
from ultra_llm.plugin import hookimpl

MODULES = ("built_for_the_future", "built_for_now")


def _plugin_source(contract: str, backend: str) -> str:
    return textwrap.dedent(
        f"""
        from ultra_llm.plugin import hookimpl

        ULTRA_LLM_CONTRACT = {contract!r}

        @hookimpl
        def ultra_llm_register_backends(register):
            register({backend!r}, "ultra_llm_mock.backend:MockBackend", summary="a contract test")
        """
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two installed distributions: one built for ultra-llm 9, one for the kernel running now."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    install_distribution(directory, "built_for_the_future", _plugin_source(">=9.0,<10", "future"))
    install_distribution(directory, "built_for_now", _plugin_source(f"=={ultra_llm.__version__}", "present"))
    yield directory
    for module in MODULES:
        sys.modules.pop(module, None)


def test_a_plugin_built_for_another_kernel_is_refused_and_adds_nothing(
    site: Path, ultra_llm_clean_env: pytest.MonkeyPatch
) -> None:
    host = PluginHost()
    backends = host.backends()
    refused = host.records["built_for_the_future"]
    assert refused.status == "failed" and "future" not in backends
    assert refused.error == (
        f"was built for ultra-llm >=9.0,<10, but this is ultra-llm {ultra_llm.__version__}: install a release of "
        f"ultra-llm-test-built-for-the-future built for ultra-llm {ultra_llm.__version__} "
        "(`pip install -U ultra-llm-test-built-for-the-future`), or ultra-llm >=9.0,<10"
    )
    assert host.records["built_for_now"].status == "loaded" and "present" in backends


def test_the_refusal_is_warned_about_on_every_command_and_listed_by_plugins(site: Path) -> None:
    """A real ``ultra-llm`` process: the refusal is one warning on stderr (the command still answers
    from what loaded), and ``plugins`` lists the plugin as failed."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    environment = {name: value for name, value in environment.items() if not name.startswith("ULTRA_LLM_")}
    command = [sys.executable, "-c", "from ultra_llm._cli import main; main()"]
    generated = subprocess.run(
        [*command, "generate", "-b", "present", "hi"], capture_output=True, text=True, env=environment, timeout=60
    )
    assert generated.returncode == 0 and "hi" in generated.stdout, generated.stderr
    warnings = [line for line in generated.stderr.splitlines() if "built_for_the_future" in line]
    assert warnings == [
        "Warning: Plugin 'built_for_the_future' (ultra-llm-test-built-for-the-future) was built for ultra-llm "
        f">=9.0,<10, but this is ultra-llm {ultra_llm.__version__}: install a release of "
        "ultra-llm-test-built-for-the-future built for ultra-llm "
        f"{ultra_llm.__version__} (`pip install -U ultra-llm-test-built-for-the-future`), or ultra-llm >=9.0,<10. "
        "It is skipped: fix or uninstall it, or skip it quietly with ULTRA_LLM_DISABLE_PLUGINS=built_for_the_future."
    ]
    listed = subprocess.run([*command, "plugins"], capture_output=True, text=True, env=environment, timeout=60)
    line = next(line for line in listed.stdout.splitlines() if line.startswith("built_for_the_future "))
    assert line.split()[3] == "failed" and "was built for ultra-llm >=9.0,<10" in listed.stderr
    quiet = subprocess.run(
        [*command, "plugins"],
        capture_output=True,
        text=True,
        env={**environment, "ULTRA_LLM_DISABLE_PLUGINS": "built_for_the_future"},
        timeout=60,
    )
    assert quiet.stderr == "" and "built_for_the_future " in quiet.stdout


def test_strict_plugins_make_the_refusal_fatal(site: Path, ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(PluginError) as caught:
        PluginHost(environ={"ULTRA_LLM_STRICT_PLUGINS": "1"}).backends()
    assert caught.value.plugin == "built_for_the_future"
    assert "(ultra-llm-test-built-for-the-future) was built for ultra-llm >=9.0,<10" in str(caught.value)


@pytest.mark.parametrize(
    ("contract", "reason"),
    [
        (4, "declares ULTRA_LLM_CONTRACT = 4, which is not a version range such as '>=0.4,<0.5'"),
        ("~=0.4", "declares an unreadable ULTRA_LLM_CONTRACT '~=0.4': '~=0.4' is not a clause such as '>=0.4'"),
        ("", "declares an unreadable ULTRA_LLM_CONTRACT '': the contract is empty"),
    ],
)
def test_an_unreadable_contract_is_refused_naming_it(
    contract: object, reason: str, ultra_llm_clean_env: pytest.MonkeyPatch
) -> None:
    class Declares:
        ULTRA_LLM_CONTRACT = contract

        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            raise AssertionError("a refused plugin is never called")

    host = PluginHost(entry_points=lambda: [])
    with pytest.raises(PluginError) as caught:
        host.register(Declares(), name="declares")
    assert str(caught.value).startswith(f"Plugin 'declares' {reason}")
    assert "declares" not in host.records


def test_a_plugin_that_declares_nothing_is_not_checked(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    class Silent:
        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            register("silent", "ultra_llm_mock.backend:MockBackend")

    host = PluginHost(entry_points=lambda: [])
    host.register(Silent(), name="silent")
    assert "silent" in host.backends()


@pytest.mark.parametrize(
    ("version", "contract", "met"),
    [
        ("0.4.0", ">=0.4,<0.5", True),
        ("0.4", ">=0.4.0,<0.5", True),  # missing parts are 0
        ("0.4.9", ">=0.4,<0.5", True),
        ("0.5.0", ">=0.4,<0.5", False),
        ("0.3.2", ">=0.4,<0.5", False),
        ("0.10.0", ">=0.9", True),  # numbers, not text: 10 > 9
        ("0.4.0rc1", ">=0.4,<0.5", True),  # a pre-release is read as its release
        ("1.0.0", "!=1.0", False),
        ("1.0.1", "!=1.0,>1", True),
        ("2.0", "==2.0.0", True),
    ],
)
def test_versions_are_compared_as_numbers(version: str, contract: str, met: bool) -> None:
    assert version_in(version, contract) is met


@pytest.mark.parametrize("contract", ["", ">=0.4,", "0.4", ">= x", ">=0.4;<0.5"])
def test_an_unreadable_contract_is_a_value_error(contract: str) -> None:
    with pytest.raises(ValueError):
        version_in("0.4.0", contract)
