"""The public modules show editors their real exports: ``dir()`` of ``ultra_llm`` and
``ultra_llm.plugin`` is their ``__all__`` (which load lazily), and every name in it resolves."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["ultra_llm", "ultra_llm.plugin"])
def test_dir_is_the_public_names_and_each_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert dir(module) == sorted(module.__all__)
    for public in module.__all__:
        assert getattr(module, public) is not None, public
