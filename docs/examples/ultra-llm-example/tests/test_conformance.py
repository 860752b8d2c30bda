"""The backend conformance suite from ``ultra_llm.testing``, run against the shout backend.

Subclassing ``BackendConformance`` is all it takes: pytest collects every check of the base class
(discovery, availability, whole and streamed generation agreeing, option validation, typed
errors, cancellation, embeddings) and runs it against the backend the fixture builds.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from ultra_llm.testing import BackendConformance, BackendFactory

from ultra_llm_example.backend import ShoutBackend


class TestShoutConformance(BackendConformance):
    model = "shout/upper"
    options: ClassVar[dict[str, Any]] = {"exclamations": 2}

    @pytest.fixture
    def backend_factory(self) -> BackendFactory:
        # Any callable taking an UltraConfig and returning a Backend; the class itself is one.
        return ShoutBackend


class TestShoutReverseConformance(TestShoutConformance):
    """The same checks for the second model, with a streaming delay from the backend's settings."""

    model = "shout/reverse"

    @pytest.fixture
    def backend_factory(self, monkeypatch: pytest.MonkeyPatch) -> BackendFactory:
        monkeypatch.setenv("ULTRA_LLM_SHOUT_DELAY", "0.001")
        return ShoutBackend
