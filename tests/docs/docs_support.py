"""Helpers for the docs tests: where the docs are, and the docs build's hook module.

The site is built with ``docs/hooks/ultra_llm_docs.py``; the tests call the same functions, so
what they check is what the site shows.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@cache
def docs_hooks() -> ModuleType:
    """The generator functions the site is built with (loaded once)."""
    spec = importlib.util.spec_from_file_location("ultra_llm_docs", DOCS / "hooks" / "ultra_llm_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page(name: str) -> str:
    """The Markdown source of ``docs/NAME``."""
    return (DOCS / name).read_text(encoding="utf-8")
