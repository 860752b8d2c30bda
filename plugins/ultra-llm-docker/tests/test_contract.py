"""The family declares the kernel it was built for: its three plugins load on it, and the host refuses
all three, naming what to install, under a kernel outside ``KERNEL_CONTRACT``."""

from __future__ import annotations

import pytest
import ultra_llm_docker
from ultra_llm_docker import KERNEL_CONTRACT

import ultra_llm
from ultra_llm._contract import version_in
from ultra_llm._host import PluginHost

FAMILY = {"docker": "ultra-llm-docker", "docker-cli": "ultra-llm-docker-cli", "docker-api": "ultra-llm-docker-api"}


def test_the_kernel_installed_is_one_the_family_was_built_for(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    assert version_in(ultra_llm.__version__, KERNEL_CONTRACT)
    host = PluginHost()
    host.load()
    assert {name: host.records[name].status for name in FAMILY} == dict.fromkeys(FAMILY, "loaded")
    assert {"docker-cli", "docker-api"} <= set(host.backends())


def test_every_plugin_of_the_family_declares_the_family_contract() -> None:
    from ultra_llm_docker import plugin as family
    from ultra_llm_docker_api import plugin as api
    from ultra_llm_docker_cli import plugin as cli

    assert {module.ULTRA_LLM_CONTRACT for module in (family, cli, api)} == {ultra_llm_docker.KERNEL_CONTRACT}


def test_under_another_kernel_the_whole_family_is_refused(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    ultra_llm_clean_env.setattr(ultra_llm, "__version__", "0.5.0")
    ultra_llm_clean_env.setenv("USE_MODEL_RUNNER", "true")  # the family's hook would choose docker-cli
    host = PluginHost()
    backends = host.backends()
    for name, distribution in FAMILY.items():
        record = host.records[name]
        assert record.status == "failed", name
        assert record.error == (
            f"was built for ultra-llm {KERNEL_CONTRACT}, but this is ultra-llm 0.5.0: install a release of "
            f"{distribution} built for ultra-llm 0.5.0 (`pip install -U {distribution}`), "
            f"or ultra-llm {KERNEL_CONTRACT}"
        )
    assert not {"docker-cli", "docker-api"} & set(backends)
    assert host.records["mock"].status == "loaded" and "mock" in backends, "the rest still load"
    assert host.hooks.select_backend(ultra_llm.load_config()) is None, "no hook of a refused family is called"
