"""The ultra-llm-docker suite's fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_docker_clean_env: pytest.MonkeyPatch) -> None:
    """Every test starts with no ultra-llm or Docker Model Runner variable set (the family's
    ``ultra_llm_docker_clean_env``, on top of the kernel's ``ultra_llm_clean_env``)."""
