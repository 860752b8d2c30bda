"""The kernel's test suite: every test starts from a clean environment (``ultra_llm_clean_env``:
the kernel's variables and those of every installed plugin's settings), with the suite's own fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.hostile import hostile_env  # noqa: F401  (a fixture, registered from here)


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_clean_env: pytest.MonkeyPatch) -> None:
    """Unset every ultra-llm variable (``ultra_llm_clean_env``) and reset the default host."""


@pytest.fixture
def serve(ultra_llm_serve: Any) -> Any:
    """``ultra_llm.testing``'s ``ultra_llm_serve``, under the short name these tests use."""
    return ultra_llm_serve


@pytest.fixture
def mock_stream_closes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Track the mock backend's streams: one ``True`` is appended each time a stream is closed
    (finished, broken out of, or failed), so a test can prove nothing was left open."""
    from ultra_llm_mock.backend import MockBackend

    from ultra_llm import Chunk
    from ultra_llm.plugin import GenerationRequest

    closed: list[bool] = []
    original = MockBackend.stream

    async def tracking(self: MockBackend, request: GenerationRequest) -> AsyncIterator[Chunk]:
        try:
            async for chunk in original(self, request):
                yield chunk
        finally:
            closed.append(True)

    monkeypatch.setattr(MockBackend, "stream", tracking)
    return closed
