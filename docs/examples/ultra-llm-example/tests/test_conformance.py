"""The backend conformance suite from ``ultra_llm.testing``, run against the shout backend.

Subclassing ``BackendConformance`` is all it takes: the suite loads the backend through the
installed entry point (so a wrong ``"module:Class"`` string fails it), then pytest runs every check
of the base class (discovery, availability, whole and streamed generation agreeing, option
validation, typed errors, cancellation, embeddings) against it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from ultra_llm.testing import BackendConformance


class TestShoutConformance(BackendConformance):
    backend = "shout"  # the name the plugin registers
    model = "shout/upper"
    options: ClassVar[dict[str, Any]] = {"exclamations": 2}


class TestShoutReverseConformance(TestShoutConformance):
    """The same checks for the second model, with a streaming delay from the backend's settings."""

    model = "shout/reverse"

    @pytest.fixture
    def backend_settings(self) -> dict[str, Any] | None:
        return {"delay": 0.001}  # ShoutSettings.delay, for this run only
