"""Issue 11 over HTTP on 127.0.0.1: the web API refuses an empty prompt (every backend: the stand-in
and another one) with a 422 in the error shape, before the backend is asked anything.

(The docker-cli backend's refusal of a prompt naming a file is that plugin's test:
``plugins/ultra-llm-docker-cli/tests/test_web_prompt_guard.py``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from ultra_llm_mock.backend import MockBackend

from ultra_llm import Chunk
from ultra_llm.plugin import GenerationRequest, hookimpl

httpx2 = pytest.importorskip("httpx2")


class RecordingBackend(MockBackend):
    """The mock's answers under another name: a backend that is not the stand-in."""

    name: ClassVar[str] = "recording"


class RecordingPlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register: Any) -> None:
        register("recording", RecordingBackend)


@pytest.fixture
def asked(web_host: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The backends asked to generate (the recording backend's and the mock's streams, by name): the
    classes the server's host serves with (the mock's module may have been imported again since)."""
    calls: list[str] = []

    def record(cls: type[MockBackend]) -> None:
        original = cls.stream

        def recording(self: MockBackend, request: GenerationRequest) -> AsyncIterator[Chunk]:
            calls.append(self.name)
            return original(self, request)

        monkeypatch.setattr(cls, "stream", recording)

    record(RecordingBackend)  # its own attribute now, so patching the mock's class below adds no second call
    record(web_host.backend_spec("mock").load())
    return calls


def post(server: Any, body: dict[str, Any]) -> Any:
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        return client.post("/api/generate", json=body)


@pytest.fixture
def server(web_host: Any, web_server: Any) -> Any:
    web_host.register(RecordingPlugin(), "recording")
    return web_server()


def test_the_recording_backend_is_asked_when_the_prompt_has_text(server: Any, asked: list[str]) -> None:
    for backend in ("mock", "recording"):
        response = post(server, {"prompt": "hello", "model": "mock/echo", "backend": backend})
        assert response.status_code == 200 and response.json()["text"] == "hello", response.text
    assert asked == ["mock", "recording"]


@pytest.mark.parametrize("backend", ["mock", "recording"])
@pytest.mark.parametrize("stream", [False, True])
def test_web_api_refuses_an_empty_prompt_with_422(server: Any, asked: list[str], backend: str, stream: bool) -> None:
    response = post(server, {"prompt": "  ", "model": "mock/echo", "backend": backend, "stream": stream})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "EmptyPromptError" and body["fix"] and body["status"] == 422
    assert asked == []
