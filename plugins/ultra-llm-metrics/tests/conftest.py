"""The ultra-llm-metrics suite's fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    """Every test starts with no ultra-llm variable set (``ultra_llm.testing``'s ``ultra_llm_clean_env``)."""
