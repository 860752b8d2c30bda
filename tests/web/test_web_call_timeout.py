"""The web API's generate request takes a ``timeout`` (seconds, above 0) for that call: it cuts the
call (504) or lets it outlast ``ULTRA_LLM_TIMEOUT``; a bad value is a 422 naming it; the OpenAPI
schema documents it."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest


@pytest.mark.parametrize("stream", [False, True])
def test_a_request_timeout_cuts_the_call(web_server: Any, monkeypatch: pytest.MonkeyPatch, stream: bool) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.5")
    server = web_server()
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        body = {"prompt": "one two three", "model": "mock/echo", "backend": "mock", "timeout": 0.3}
        if stream:
            with client.stream("POST", "/api/generate", json={**body, "stream": True}) as response:
                assert response.status_code == 200
                text = response.read().decode()
            assert "event: error" in text and "took longer than 0.3 s" in text, text
        else:
            response = client.post("/api/generate", json=body)
            assert response.status_code == 504, response.text
            assert response.json()["message"] == "Generation on backend 'mock' took longer than 0.3 s."


def test_a_request_timeout_outlasts_ultra_llm_timeout(web_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.25")
    monkeypatch.setenv("ULTRA_LLM_TIMEOUT", "0.3")
    server = web_server()
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        body = {"prompt": "one two three", "model": "mock/echo", "backend": "mock"}
        assert client.post("/api/generate", json=body).status_code == 504
        response = client.post("/api/generate", json={**body, "timeout": 10})
    assert response.status_code == 200, response.text
    assert response.json()["text"].split() == ["one", "two", "three"]


@pytest.mark.parametrize("bad", [0, -1, "soon", None, True])
def test_a_bad_request_timeout_is_a_422_naming_it(web_server: Any, bad: Any) -> None:
    server = web_server()
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        response = client.post("/api/generate", json={"prompt": "x", "backend": "mock", "timeout": bad})
    if bad is None:  # null is the field's default: the server's ULTRA_LLM_TIMEOUT
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 422, response.text
    text = response.text
    assert "timeout" in text and repr(bad).lower().strip("'") in text.lower(), text


def test_the_openapi_schema_documents_the_timeout(web_server: Any) -> None:
    server = web_server()
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        schema = client.get("/api/openapi.json").json()
    field = schema["components"]["schemas"]["GenerateRequest"]["properties"]["timeout"]
    number = next(option for option in field["anyOf"] if option.get("type") == "number")
    assert number["exclusiveMinimum"] == 0
    assert "ULTRA_LLM_TIMEOUT" in field["description"]
