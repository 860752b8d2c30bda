"""A request through the web API is validated once: the router builds it, the adapter runs it as built."""

from __future__ import annotations

from typing import Any

import pytest

from ultra_llm._adapter import Adapter

httpx2 = pytest.importorskip("httpx2")


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model of every request ``Adapter.build_request`` validates (the one way to build one)."""
    seen: list[str] = []
    original = Adapter.build_request

    def counting(self: Adapter, *args: Any, **kwargs: Any) -> Any:
        request = original(self, *args, **kwargs)
        seen.append(request.model)
        return request

    monkeypatch.setattr(Adapter, "build_request", counting)
    return seen


@pytest.mark.parametrize("stream", [False, True])
def test_a_generation_is_validated_once(web_server: Any, builds: list[str], stream: bool) -> None:
    server = web_server()
    body = {"prompt": "once only", "model": "mock/echo", "stream": stream, "options": {"temperature": 0.5}}
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        response = client.post("/api/generate", json=body)
    assert response.status_code == 200 and "once " in response.text and "only" in response.text
    assert builds == ["mock/echo"]


def test_a_built_request_is_refused_beside_options_or_on_another_adapter() -> None:
    from ultra_llm import create_adapter_sync
    from ultra_llm.errors import InvalidOptionsError

    with create_adapter_sync("mock/echo") as adapter:
        request = adapter.build_request("hi", {})
        assert adapter.complete(request).text == "hi"
        with pytest.raises(InvalidOptionsError, match="beside a built request"):
            adapter.complete(request, temperature=0.1)
        other = type(request)(request.model, request.messages, None, "elsewhere")
        with pytest.raises(InvalidOptionsError, match="built for backend 'elsewhere'"):
            adapter.complete(other)
