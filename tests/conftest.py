"""Shared test configuration: every test starts from a clean ultra-llm environment."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    """Unset ULTRA_LLM_*, MODEL_RUNNER_* and the seed's variables, and reset the default host."""
