"""The cache and the request features: tools, tool choice, response formats, images and reasoning
control are part of the key; tool calls are stored and replayed, parsed answers are not stored.

``features`` (conftest.py) answers each feature in a fixed way: one call per tool, arguments
``{"prompt": ...}``; ``{"answer": <prompt>, "images": <count>}`` for a response format."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import ultra_llm_cache
from ultra_llm_cache.store import MemoryStore, SQLiteStore, decode_value, encode_value, request_key

from ultra_llm import create_adapter_sync
from ultra_llm._adapter import Adapter
from ultra_llm._host import PluginHost
from ultra_llm._types import Chunk, ImagePart, Message, Result, ToolCall, ToolCallDelta, Usage

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
"""Bytes that start as a PNG does (``ImagePart`` sniffs the signature; no decoder reads them here)."""
GIF = b"GIF89a" + b"\x00" * 24
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]
"""Two OpenAI tool definitions."""
Count = Callable[[], int]


def _image(data: bytes) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "look"}, ImagePart.from_bytes(data).to_dict()]}]


VARIANTS: list[tuple[object, dict[str, Any]]] = [
    ("q", {}),
    ("q", {"tools": TOOLS}),
    ("q", {"tools": TOOLS[:1]}),
    ("q", {"tools": TOOLS, "tool_choice": "required"}),
    ("q", {"tools": TOOLS, "tool_choice": "get_time"}),
    ("q", {"response_format": SCHEMA}),
    ("q", {"response_format": {**SCHEMA, "required": []}}),
    ("q", {"response_format": {"type": "json_object"}}),
    ("q", {"reasoning": False}),
    ("q", {"reasoning": True}),
    ("q", {"reasoning": True, "reasoning_budget": 64}),
    (_image(PNG), {}),
    (_image(PNG + b"\x01"), {}),
    (_image(GIF), {}),
]


@pytest.mark.parametrize("mode", ["memory", "sqlite"])
def test_each_feature_is_part_of_the_key(
    ultra_llm_host: PluginHost, features: Adapter, monkeypatch: pytest.MonkeyPatch, mode: str, generations: Count
) -> None:
    monkeypatch.setenv("ULTRA_LLM_CACHE", mode)
    features = create_adapter_sync("mock/echo", backend="features", host=ultra_llm_host)
    first = [features.complete(prompt, temperature=0, **options) for prompt, options in VARIANTS]  # type: ignore[arg-type]
    assert generations() == len(VARIANTS), "a different tool list, schema, image or reasoning misses"
    again = [features.complete(prompt, temperature=0, **options) for prompt, options in VARIANTS]  # type: ignore[arg-type]
    assert generations() == len(VARIANTS), "the same request hits"
    assert again == first
    assert again[1].tool_calls == first[1].tool_calls and [c.name for c in again[1].tool_calls] == [
        "get_weather",
        "get_time",
    ]
    assert again[5].parsed == {"answer": "q", "images": 0}, "the adapter parses a cached answer again"
    features.close()


def test_an_image_is_keyed_by_its_hash_not_inline(features: Adapter) -> None:
    request = features.build_request(_image(PNG), {"temperature": 0})
    key = request_key(request, "generate")
    assert key == request_key(features.build_request(_image(PNG), {"temperature": 0}), "generate")
    from ultra_llm_cache import store

    payload = json.dumps([store._message_key(message) for message in request.messages])
    assert "base64" not in payload and "sha256" in payload


def test_a_streamed_tool_call_is_replayed_with_its_pieces(features: Adapter, generations: Count) -> None:
    first = list(features.stream("q", temperature=0, tools=TOOLS, tool_choice="get_weather"))
    second = list(features.stream("q", temperature=0, tools=TOOLS, tool_choice="get_weather"))
    assert generations() == 1 and second == first
    assert sum(len(chunk.tool_call_deltas) for chunk in second) > 2, "arguments span several pieces"
    assert second[-1].tool_calls == (ToolCall("call_0_get_weather", "get_weather", '{"prompt": "q"}'),)
    assert ultra_llm_cache.stats()["process"]["hits"] == 1


def test_a_streamed_schema_answer_is_parsed_again_on_a_hit(features: Adapter, generations: Count) -> None:
    runs = [list(features.stream("q", seed=1, response_format=SCHEMA)) for _ in range(2)]
    assert generations() == 1
    assert runs[0][-1].parsed == runs[1][-1].parsed == {"answer": "q", "images": 0}


def test_values_with_tool_calls_round_trip_and_parsed_is_not_stored(tmp_path: Path) -> None:
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    result = Result("", "mock/echo", "features", "tool_calls", Usage(1, 2, 3), tool_calls=(call,), parsed={"x": 1})
    assert "parsed" not in json.loads(encode_value(result))
    assert decode_value(encode_value(result)) == Result(
        "", "mock/echo", "features", "tool_calls", Usage(1, 2, 3), tool_calls=(call,)
    )
    chunks = (
        Chunk("", tool_call_deltas=(ToolCallDelta(0, "call_1", "get_weather", '{"ci'),)),
        Chunk("", tool_call_deltas=(ToolCallDelta(0, arguments='ty": "Paris"}'),)),
        Chunk("", finish_reason="tool_calls"),
    )
    assert decode_value(encode_value(chunks)) == chunks
    for store in (MemoryStore(), SQLiteStore(tmp_path / "c.sqlite3")):
        store.put("k", "stream", chunks)
        assert store.get("k") == chunks
        store.close()


def test_a_message_with_tool_calls_and_a_tool_answer_key_apart(features: Adapter) -> None:
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    history = [Message("user", "weather?"), Message("assistant", "", (call,))]
    keys = {
        request_key(features.build_request([*history, Message("tool", answer, tool_call_id="call_1")], {}), "generate")
        for answer in ("sunny", "rain")
    }
    assert len(keys) == 2
