"""Testing support for ultra-llm and its plugins: a pytest plugin and a backend conformance suite.

``pip install ultra-llm`` registers the fixtures in ``ultra_llm.testing.fixtures`` with pytest
(the ``pytest11`` entry point); ``BackendConformance`` is the base class a plugin author subclasses.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("ultra_llm.testing.conformance")  # failed checks show the values compared

from .conformance import BackendConformance, BackendFactory  # noqa: E402

__all__ = ["BackendConformance", "BackendFactory"]
