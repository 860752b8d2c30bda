"""The family's pytest fixture, registered by its ``pytest11`` entry point: its variables unset.

The kernel's ``ultra_llm_clean_env`` clears the kernel's variables and those of loaded settings
classes; ``ultra_llm_docker_clean_env`` clears every Docker Model Runner variable, loaded or not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

ENVIRONMENT_PREFIXES = ("MODEL_RUNNER_", "ULTRA_LLM_DOCKER_")
ENVIRONMENT_NAMES = ("USE_MODEL_RUNNER",)


@pytest.fixture
def ultra_llm_docker_clean_env(ultra_llm_clean_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Unset the seed's and the Docker backends' variables (``USE_MODEL_RUNNER``, ``MODEL_RUNNER_*``)
    on top of ``ultra_llm_clean_env``; yields its ``monkeypatch``."""
    for name in list(os.environ):
        if name.startswith(ENVIRONMENT_PREFIXES) or name in ENVIRONMENT_NAMES:
            ultra_llm_clean_env.delenv(name, raising=False)
    yield ultra_llm_clean_env
