"""The web API's request features over a real uvicorn server: tools, tool choice, response formats,
content parts with images, tool messages and reasoning control, whole and as SSE events; typed 4xx
for bad values; the body cap fitting an image; the OpenAPI schema describing the new fields."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.feature_backend import PNG, TOOLS, FeatureBackend, FeaturePlugin
from tests.web.test_web_api import stream_events
from ultra_llm._host import PluginHost

httpx2 = pytest.importorskip("httpx2")

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
IMAGE_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.fixture
def client(web_host: PluginHost, web_server: Callable[..., Any]) -> Iterator[Any]:
    web_host.register(FeaturePlugin(), name="features")
    FeatureBackend.calls = 0
    with httpx2.Client(base_url=web_server().url, timeout=30) as client:
        yield client


def generate(client: Any, **body: Any) -> Any:
    return client.post("/api/generate", json={"model": "mock/echo", "backend": "features", **body})


def test_tool_calls_whole(client: Any) -> None:
    response = generate(client, prompt="weather?", tools=TOOLS, tool_choice="required")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["finish_reason"] == "tool_calls" and body["parsed"] is None
    assert body["tool_calls"][0] == {
        "id": "call_0_get_weather",
        "name": "get_weather",
        "arguments": '{"prompt": "weather?"}',
        "parsed_arguments": {"prompt": "weather?"},
    }
    assert [call["name"] for call in body["tool_calls"]] == ["get_weather", "get_time"]


@pytest.mark.parametrize("choice", ["get_time", {"type": "function", "function": {"name": "get_time"}}])
def test_tool_calls_streamed_as_deltas_then_assembled_in_done(client: Any, choice: Any) -> None:
    body = {"model": "mock/echo", "backend": "features", "prompt": "now?", "tools": TOOLS, "tool_choice": choice}
    status, events = stream_events(client, {**body, "stream": True})
    assert status == 200, events
    deltas = [delta for name, data, _ in events if name == "chunk" for delta in data["tool_call_deltas"]]
    assert len(deltas) > 2 and deltas[0]["name"] == "get_time" and deltas[0]["id"] == "call_0_get_time"
    assert "".join(delta["arguments"] for delta in deltas) == '{"prompt": "now?"}'
    name, done, _ = events[-1]
    assert name == "done" and done["finish_reason"] == "tool_calls"
    assert done["tool_calls"] == [
        {
            "id": "call_0_get_time",
            "name": "get_time",
            "arguments": '{"prompt": "now?"}',
            "parsed_arguments": {"prompt": "now?"},
        }
    ]


def test_a_tool_message_answers_a_call(client: Any) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    messages = [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
        {"role": "user", "content": "so?"},
    ]
    response = generate(client, prompt=messages, tools=TOOLS, tool_choice="none")
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "echo: so?"


@pytest.mark.parametrize("fmt", [SCHEMA, {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}])
def test_response_format_parsed_whole_and_streamed(client: Any, fmt: dict[str, Any]) -> None:
    body = generate(client, prompt="hi", response_format=fmt).json()
    assert body["parsed"] == {"answer": "hi", "images": 0} and json.loads(body["text"]) == body["parsed"]
    status, events = stream_events(
        client, {"model": "mock/echo", "backend": "features", "prompt": "hi", "response_format": fmt, "stream": True}
    )
    assert status == 200 and events[-1][0] == "done" and events[-1][1]["parsed"] == {"answer": "hi", "images": 0}


def test_an_answer_that_is_not_the_json_asked_for_is_typed(client: Any) -> None:
    whole = client.post(
        "/api/generate",
        json={"model": "mock/broken", "backend": "features", "prompt": "hi", "response_format": SCHEMA},
    )
    assert whole.status_code == 502 and whole.json()["error"] == "StructuredOutputError"
    body = {"model": "mock/broken", "backend": "features", "prompt": "hi", "response_format": SCHEMA, "stream": True}
    status, events = stream_events(client, body)
    assert status == 200 and events[-1][0] == "error" and events[-1][1]["error"] == "StructuredOutputError"
    assert "max_tokens" in (events[-1][1]["fix"] or "")


def test_images_as_content_parts(client: Any) -> None:
    content = [{"type": "text", "text": "what is it?"}, {"type": "image_url", "image_url": {"url": IMAGE_URL}}]
    response = generate(client, prompt=[{"role": "user", "content": content}])
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "echo: what is it? [1 image(s): image/png]"


def test_an_image_of_several_megabytes_fits_the_body_cap(client: Any) -> None:
    big = "data:image/png;base64," + base64.b64encode(PNG + b"\x00" * (6 * 1_048_576)).decode()
    content = [{"type": "text", "text": "big"}, {"type": "image_url", "image_url": {"url": big}}]
    response = generate(client, prompt=[{"role": "user", "content": content}])
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools"),
        ({"tool_choice": "auto"}, "needs tools"),
        ({"tools": TOOLS, "tool_choice": "nope"}, "names no tool"),
        ({"response_format": {"type": "text"}}, "asks for no structure"),
        ({"reasoning_budget": -1}, "reasoning_budget"),
        ({"options": {"tools": TOOLS}}, "cannot be set through `options`"),
        (
            {"prompt": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]},
            "data: URLs",
        ),
        (
            {
                "prompt": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}],
                    }
                ]
            },
            "not an image",
        ),
        ({"prompt": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
    ],
)
def test_bad_values_are_typed_422(client: Any, body: dict[str, Any], field: str) -> None:
    response = generate(client, **{"prompt": "hi", **body})
    assert response.status_code == 422, response.text
    error = response.json()
    assert field in error["message"] and error["fix"]
    assert FeatureBackend.calls == 0


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"tools": TOOLS}, "call tools"),
        ({"response_format": SCHEMA}, "answer in a JSON schema"),
        (
            {"prompt": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMAGE_URL}}]}]},
            "read images",
        ),
        ({"reasoning": False}, "take reasoning control"),
    ],
)
def test_a_backend_that_declares_none_answers_501(client: Any, body: dict[str, Any], what: str) -> None:
    response = client.post("/api/generate", json={"prompt": "hi", "backend": "plain", **body})
    assert response.status_code == 501 and f"cannot {what}" in response.json()["message"]


def test_reasoning_control_reaches_the_backend(client: Any) -> None:
    assert generate(client, prompt="hi", reasoning=True).json()["reasoning"] == "thinking"
    assert generate(client, prompt="hi", reasoning=True, reasoning_budget=0).json()["reasoning"] is None
    status, events = stream_events(
        client, {"backend": "features", "model": "mock/echo", "prompt": "hi", "reasoning": True, "stream": True}
    )
    assert status == 200 and events[0][1] == {"text": "thinking", "kind": "reasoning", "tool_call_deltas": []}


def test_openapi_describes_the_new_fields(client: Any) -> None:
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    assert {"tools", "tool_choice", "response_format", "reasoning", "reasoning_budget"} <= set(
        schemas["GenerateRequest"]["properties"]
    )
    assert {"tool_calls", "parsed"} <= set(schemas["GenerateResponse"]["properties"])
    assert "tool_call_deltas" in schemas["ChunkEvent"]["properties"]
    assert {"tool_calls", "parsed"} <= set(schemas["DoneEvent"]["properties"])
    assert {"TextPartIn", "ImagePartIn", "ToolCallIn", "ToolIn"} <= set(schemas)
    assert {"context_window", "tools", "vision"} <= set(schemas["ModelOut"]["properties"])


def test_logprobs_and_several_answers_whole_and_streamed(client: Any) -> None:
    """Issue 30 through the web API, on the mock: the whole answer's ``logprobs`` and ``choices``; a
    stream's chunks with their tokens and, for a later answer, its ``index``; ``done``'s ``choices``."""
    body = {"prompt": "two words", "model": "mock/echo", "options": {"n": 2, "logprobs": True, "top_logprobs": 2}}
    whole = client.post("/api/generate", json=body)
    assert whole.status_code == 200, whole.text
    answer = whole.json()
    assert [choice["index"] for choice in answer["choices"]] == [0, 1]
    assert answer["choices"][1]["text"] == answer["text"] + " (answer 2)"
    assert "".join(token["token"] for token in answer["logprobs"]) == answer["text"]
    assert len(answer["logprobs"][0]["top_logprobs"]) == 2
    status, events = stream_events(client, {**body, "stream": True})
    assert status == 200, events
    chunks = [data for name, data, _ in events if name == "chunk"]
    assert "".join(t["token"] for c in chunks if "index" not in c for t in c["logprobs"]) == answer["text"]
    assert "".join(c["text"] for c in chunks if c.get("index") == 1) == answer["choices"][1]["text"]
    name, done, _ = events[-1]
    assert name == "done" and [end["index"] for end in done["choices"]] == [0, 1]


def test_models_of_a_backend_without_a_default_model(web_host: PluginHost, web_server: Callable[..., Any]) -> None:
    """``default_model`` is null there (issue 29 F2): the listing answers, it was a 422."""
    from tests.cli.test_cli_findings import ShelfPlugin

    web_host.register(ShelfPlugin(), name="shelf-plugin")
    with httpx2.Client(base_url=web_server().url, timeout=30) as client:
        listed = client.get("/api/models", params={"backend": "shelf"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["default_model"] is None
    assert [model["name"] for model in listed.json()["models"]] == ["shelf/a", "shelf/b"]
