"""The family's entry-point module: its settings, and the seed's selection rule. Imports nothing heavy.

``USE_MODEL_RUNNER=true`` selects the backend ``MODEL_RUNNER_TYPE`` names (``cli`` by default, a
name or an alias); the kernel resolves it, so a name nothing registers is its configuration error.
``ULTRA_LLM_BACKEND`` and ``-b`` win over this hook; without it the stand-in serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ultra_llm.plugin import hookimpl

from . import KERNEL_CONTRACT

if TYPE_CHECKING:
    from ultra_llm.plugin import SettingsRegistrar, UltraConfig

ULTRA_LLM_CONTRACT = KERNEL_CONTRACT


@hookimpl
def ultra_llm_register_settings(register: SettingsRegistrar) -> None:
    """The seed's selection variables, listed by ``ultra-llm config`` under ``docker``."""
    register("docker", "ultra_llm_docker.settings:SelectionSettings")


@hookimpl
def ultra_llm_select_backend(config: UltraConfig) -> tuple[str, str] | None:
    """The backend ``MODEL_RUNNER_TYPE`` names when ``USE_MODEL_RUNNER`` is true, else no opinion."""
    from .settings import SelectionSettings

    settings = SelectionSettings.load()
    if not settings.use_model_runner:
        return None
    name = settings.model_runner_type
    return name, f"USE_MODEL_RUNNER=true, MODEL_RUNNER_TYPE={name}"
