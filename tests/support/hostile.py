"""The hostile plugin (``hostile_plugin.py``), installed as a real distribution for child processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.core.plugins import install_distribution

__all__ = ["hostile_env"]

HOSTILE_SOURCE = Path(__file__).with_name("hostile_plugin.py")


@pytest.fixture
def hostile_env(tmp_path: Path) -> dict[str, str]:
    """Environment variables for a child ``ultra-llm`` that loads ``hostile_plugin`` as a plugin."""
    site = tmp_path / "site"
    site.mkdir()
    install_distribution(site, "ultra_llm_hostile", HOSTILE_SOURCE.read_text(encoding="utf-8"))
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "ULTRA_LLM_TEST_CHECKING": str(tmp_path / "checking")}
