"""A client that disconnects cancels its generation, on the server, at once.

Proved with a middleware plugin on the server's host that records how the stream ended and
keeps the backend's own iterator. (That a backend's own process ends with it is the process-running
backends' test: ``plugins/ultra-llm-docker-cli/tests/test_web_disconnect_kills_run.py``.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from ultra_llm._middleware import Middleware
from ultra_llm.plugin import hookimpl

httpx2 = pytest.importorskip("httpx2")

LONG_PROMPT = " ".join(f"word{i}" for i in range(100))


class Probe(Middleware):
    """Middleware around every stream and whole generation; records ``started``, ``chunk``,
    ``cancelled``, ``closed`` and keeps the backend's own iterator."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.inner: Any = None

    @hookimpl(trylast=True)  # next to the backend: ``inner`` is the backend's own stream, whatever else is installed
    def ultra_llm_middleware(self) -> Middleware:
        return self

    async def stream(self, request: Any, call_next: Any) -> AsyncIterator[Any]:
        inner = call_next(request)
        self.inner = inner
        self.events.append("started")
        try:
            async for chunk in inner:
                self.events.append("chunk")
                yield chunk
            self.events.append("finished")
        except (asyncio.CancelledError, GeneratorExit):
            self.events.append("cancelled")
            raise
        finally:
            await inner.aclose()
            self.events.append("closed")

    async def generate(self, request: Any, call_next: Any) -> Any:
        self.events.append("started")
        try:
            return await call_next(request)
        except asyncio.CancelledError:
            self.events.append("cancelled")
            raise
        finally:
            self.events.append("closed")


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def probe(web_host: Any) -> Any:
    probe = Probe()
    web_host.register(probe, "web-test-probe")
    yield probe
    web_host.unregister("web-test-probe")


def read_chunks(lines: Iterator[str], count: int) -> list[str]:
    """The next ``count`` chunk ``data:`` lines from ``lines`` (kept open: closing it would disconnect)."""
    texts: list[str] = []
    while len(texts) < count:
        line = next(lines)
        if line.startswith("data:") and '"text"' in line:
            texts.append(line)
    return texts


def test_disconnect_mid_stream_cancels_the_backend_stream(
    web_server: Any, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.1")
    server = web_server()
    body = {"prompt": LONG_PROMPT, "model": "mock/echo", "stream": True}
    with (
        httpx2.Client(base_url=server.url, timeout=30) as client,
        client.stream("POST", "/api/generate", json=body) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        assert len(read_chunks(lines, 3)) == 3
        assert "closed" not in probe.events
    # Leaving the block closes the unfinished response, so the connection.
    assert wait_for(lambda: "closed" in probe.events, timeout=3), probe.events
    assert "cancelled" in probe.events and "finished" not in probe.events
    produced = probe.events.count("chunk")
    assert produced < 20, f"the backend kept generating after the disconnect: {produced} chunks"
    assert probe.inner.ag_frame is None, "the backend's stream was not closed"
    time.sleep(0.3)
    assert probe.events.count("chunk") == produced, "chunks were produced after the stream was closed"


def test_disconnect_before_the_first_chunk_cancels(
    web_server: Any, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "hang")
    server = web_server()
    timeout = httpx2.Timeout(30, read=0.5)
    with httpx2.Client(base_url=server.url, timeout=timeout) as client, pytest.raises(httpx2.ReadTimeout):
        client.post("/api/generate", json={"prompt": "x", "stream": True})
    assert wait_for(lambda: "closed" in probe.events, timeout=3), probe.events
    assert "cancelled" in probe.events
    assert probe.inner.ag_frame is None


def test_disconnect_during_a_whole_generation_cancels(
    web_server: Any, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "hang")
    server = web_server()
    timeout = httpx2.Timeout(30, read=0.5)
    with httpx2.Client(base_url=server.url, timeout=timeout) as client, pytest.raises(httpx2.ReadTimeout):
        client.post("/api/generate", json={"prompt": "x"})
    assert wait_for(lambda: "closed" in probe.events, timeout=3), probe.events
    assert probe.events == ["started", "cancelled", "closed"]
