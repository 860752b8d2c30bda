"""Request features: what tool calls and schema answers cost over plain text (issue 17).

In-process, no engine, so only our code is measured. A backend streams the same number of chunks
three ways: plain text (the baseline), tool-call pieces (``ToolCallDelta``: the adapter assembles
them and adds its last chunk), and the text of a JSON answer the adapter parses for a
``response_format``. Then docker-api's parser: llama-server's tool-call stream events
(``delta.tool_calls``) against its text events, the same count. Limits: the adapter at most 1.3x
for a parsed JSON answer and 1.4x for tool-call pieces (each piece is one more dictionary lookup
and append, about 0.25 microseconds here, on a path of about 0.9 for a text chunk);
the parser at most 2x, since a tool-call event has three nested objects to check and two values
to build where a text event has one string (about 3 against 1.6 microseconds an event here): the
limit is there to catch a parser that grows with the call's length, not that fixed cost.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from .runner import Measurement, case

PIECES = 400
"""Chunks per answer (a long tool call's arguments arrive in about this many pieces)."""
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
SCHEMA = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}}}
JSON_PIECES = ['{"items": ["', *(["word", '", "'] * ((PIECES - 3) // 2)), 'end"]}']


@case("features")
def features() -> list[Measurement]:
    from ultra_llm import PluginHost, create_adapter
    from ultra_llm.plugin import Availability, Backend, Chunk, GenerationRequest, ModelInfo, ToolCallDelta, hookimpl

    # Built once: the backend's own cost of making chunks is not what is measured.
    text_chunks = [Chunk("word ") for _ in range(PIECES)]
    json_chunks = [Chunk(piece) for piece in JSON_PIECES]
    call_chunks = [
        Chunk("", tool_call_deltas=(ToolCallDelta(0, "c0", "f", "{"),)),
        *[Chunk("", tool_call_deltas=(ToolCallDelta(0, arguments=" "),)) for _ in range(PIECES - 2)],
        Chunk("", tool_call_deltas=(ToolCallDelta(0, arguments="}"),), finish_reason="tool_calls"),
    ]

    class Streams(Backend):
        name: ClassVar[str] = "bench-features"
        default_model: ClassVar[str] = "m"
        supports_tools: ClassVar[bool] = True
        supports_response_format: ClassVar[bool] = True

        async def check_availability(self) -> Availability:
            return Availability(True)

        async def list_models(self) -> list[ModelInfo]:
            return [ModelInfo("m", self.name)]

        async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
            answer = call_chunks if request.tools else json_chunks if request.response_format else text_chunks
            for chunk in answer:
                yield chunk

    class Plugin:
        @hookimpl
        def ultra_llm_register_backends(self, register: Any) -> None:
            register("bench-features", Streams)

    host = PluginHost(entry_points=lambda: [])
    host.register(Plugin(), name="bench-features")
    loop = asyncio.new_event_loop()
    adapter = loop.run_until_complete(create_adapter(backend="bench-features", host=host, check=False))

    def streamed(**options: Any) -> None:
        async def drain() -> int:
            return len([chunk async for chunk in adapter.stream("go", **options)])

        loop.run_until_complete(drain())

    try:
        text, tools, schema = _interleaved(
            [lambda: streamed(), lambda: streamed(tools=TOOLS), lambda: streamed(response_format=SCHEMA)]
        )
    finally:
        loop.run_until_complete(adapter.aclose())
        loop.close()
    text_events, tool_events = _parser_events()
    parse_text, parse_tools = _parse(text_events, tool_events)
    return [
        Measurement(
            "features", f"adapter stream, {PIECES} tool-call pieces", tools, "the same count of text", text, limit=1.4
        ),
        Measurement(
            "features", "adapter stream, JSON answer parsed", schema, "the same count of text", text, limit=1.3
        ),
        Measurement(
            "features",
            "docker-api parse, tool-call events",
            parse_tools,
            "text events",
            parse_text,
            limit=2.0,
        ),
    ]


def _parser_events() -> tuple[list[Any], list[Any]]:
    """llama-server's stream events, decoded: text deltas, and one call's argument pieces
    (``tools/server/server-chat.cpp:550-576`` in b9878: ``index`` on each, ``id``/``name`` first)."""

    def event(delta: dict[str, Any]) -> Any:
        return json.loads(json.dumps({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}))

    text = [event({"content": "word "}) for _ in range(PIECES)]
    first = {"index": 0, "id": "c0", "type": "function", "function": {"name": "f", "arguments": "{"}}
    tools = [event({"tool_calls": [first]})]
    tools += [event({"tool_calls": [{"index": 0, "function": {"arguments": " "}}]}) for _ in range(PIECES - 1)]
    return text, tools


def _parse(text_events: list[Any], tool_events: list[Any]) -> tuple[float, float]:
    from ultra_llm_docker_api.parsing import chunks_from_event

    text, tools = _interleaved(
        [
            lambda: [chunks_from_event(event) for event in text_events],
            lambda: [chunks_from_event(event) for event in tool_events],
        ]
    )
    return text, tools


def _interleaved(funcs: list[Callable[[], object]], rounds: int = 21) -> tuple[float, ...]:
    """The median wall time (ms) of each of ``funcs``, run in turn each round so that the machine's
    drift and the collector's pauses fall on all of them alike."""
    samples: list[list[float]] = [[] for _ in funcs]
    for func in funcs:
        func()  # warm
    for _ in range(rounds):
        for func, times in zip(funcs, samples, strict=True):
            start = time.perf_counter()
            func()
            times.append((time.perf_counter() - start) * 1000)
    return tuple(statistics.median(times) for times in samples)
