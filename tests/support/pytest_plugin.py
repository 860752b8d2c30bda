"""The test suite's pytest plugin (``-p tests.support.pytest_plugin`` in pyproject's addopts), for the
core's tests in ``tests/`` and each plugin's in ``plugins/*/tests``: every test starts from a clean
ultra-llm environment, and the shared doubles and the real engine are fixtures everywhere."""

from __future__ import annotations

import pytest

# The shared test doubles and the real engine, available to every test directory.
pytest_plugins = [
    "tests.support.docker_double.fixtures",
    "tests.support.engine.fixtures",
    "tests.support.serve",
    "tests.support.hostile",
]


@pytest.fixture(autouse=True)
def _clean_environment(ultra_llm_docker_clean_env: pytest.MonkeyPatch) -> None:
    """Unset the kernel's variables (``ultra_llm_clean_env``) and the Docker family's (``USE_MODEL_RUNNER``,
    ``MODEL_RUNNER_*``: ``ultra_llm_docker_clean_env``), and reset the default host."""


@pytest.fixture
def mock_stream_closes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Track the mock backend's streams: one ``True`` is appended each time a stream is closed
    (finished, broken out of, or failed), so a test can prove nothing was left open."""
    from collections.abc import AsyncIterator

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
