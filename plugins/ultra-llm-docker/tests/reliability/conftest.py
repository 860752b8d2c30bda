"""The family's reliability fixtures: ``processes``, this process's children, zombies, descriptors and
memory read from ``/proc`` (``ultra_llm.testing.leaks``)."""

from __future__ import annotations

from types import ModuleType

import pytest


@pytest.fixture
def processes() -> ModuleType:
    """``ultra_llm.testing.leaks``: ``child_pids``, ``zombie_children``, ``snapshot`` ..."""
    from ultra_llm.testing import leaks

    return leaks
