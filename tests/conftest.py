"""Shared test configuration: every test starts from a clean ultra-llm environment."""

from __future__ import annotations

import pytest

# The shared test doubles and the real engine, available to every test directory.
pytest_plugins = ["tests.support.docker_double.fixtures", "tests.support.engine.fixtures"]


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    """Unset ULTRA_LLM_*, MODEL_RUNNER_* and the seed's variables, and reset the default host."""
