"""A backend that declares every request feature and answers each in a fixed, checkable way.

Used by the tests of the CLI, the web API, the cache and the conformance suite, so they exercise
tools, response formats, images and reasoning control without a runner and without depending on
what the mock backend implements. It streams as the contract asks: tool calls as
``ToolCallDelta`` pieces (arguments split across several), never assembled calls, and the schema
answer as plain text (the adapter parses it).

- tools (``tool_choice`` not ``"none"``): one call per tool, or only the named one; arguments
  ``{"prompt": <the prompt>}``; finish reason ``tool_calls``;
- a response format: ``{"answer": <the prompt>, "images": <count>}`` as JSON text (``mock/broken``
  cuts it short, finish reason ``length``, as ``max_tokens`` would);
- otherwise ``echo: <the prompt>`` plus `` [N image(s): type, ...]`` when images were sent;
- ``reasoning=True`` (and a budget other than 0) first streams a reasoning chunk ``thinking``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from ultra_llm_mock.backend import MockBackend

from ultra_llm import Chunk
from ultra_llm._tools import ToolCallDelta
from ultra_llm._types import Usage
from ultra_llm.plugin import GenerationRequest, hookimpl

__all__ = ["GIF", "PNG", "TOOLS", "FeatureBackend", "FeaturePlugin", "PlainBackend", "pieces"]

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


def pieces(text: str, size: int = 4) -> list[str]:
    """``text`` in pieces of ``size`` characters (so arguments span many deltas)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class FeatureBackend(MockBackend):
    """The mock's models and options, with every ``supports_*`` flag set and the answers above."""

    name: ClassVar[str] = "features"
    summary: ClassVar[str] = "Test backend: tools, schemas, images and reasoning control, answered predictably."
    supports_tools: ClassVar[bool] = True
    supports_response_format: ClassVar[bool] = True
    supports_images: ClassVar[bool] = True
    supports_reasoning_control: ClassVar[bool] = True
    calls: ClassVar[int] = 0

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        FeatureBackend.calls += 1
        if request.reasoning and request.reasoning_budget != 0:
            yield Chunk("thinking", kind="reasoning")
        tools = self._called(request)
        if tools:
            arguments = json.dumps({"prompt": request.prompt})
            for index, name in enumerate(tools):
                parts = pieces(arguments)
                yield Chunk("", tool_call_deltas=(ToolCallDelta(index, f"call_{index}_{name}", name, parts[0]),))
                for part in parts[1:]:
                    yield Chunk("", tool_call_deltas=(ToolCallDelta(index, arguments=part),))
            yield Chunk("", finish_reason="tool_calls", usage=Usage(1, 1, 2))
            return
        finish = "stop"
        if request.response_format is not None:
            text = json.dumps({"answer": request.prompt, "images": len(request.images)})
            if request.model == "mock/broken":
                text, finish = text[: len(text) // 2], "length"
        else:
            text = f"echo: {request.prompt}"
            if request.images:
                kinds = ", ".join(image.media_type for image in request.images)
                text += f" [{len(request.images)} image(s): {kinds}]"
        for part in pieces(text):
            yield Chunk(part)
        yield Chunk("", finish_reason=finish, usage=Usage(1, 1, 2))

    @staticmethod
    def _called(request: GenerationRequest) -> list[str]:
        choice = request.tool_choice
        if not request.tools or choice == "none":
            return []
        if isinstance(choice, Mapping):
            return [str(choice["function"]["name"])]
        return [tool.name for tool in request.tools]


class PlainBackend(MockBackend):
    """The mock's answers, declaring no request feature (whatever the mock itself declares)."""

    name: ClassVar[str] = "plain"
    supports_tools: ClassVar[bool] = False
    supports_response_format: ClassVar[bool] = False
    supports_images: ClassVar[bool] = False
    supports_reasoning_control: ClassVar[bool] = False
    unsupported_hint: ClassVar[str] = "Use the features backend."


class FeaturePlugin:
    """Registers ``FeatureBackend`` as ``features`` and ``PlainBackend`` as ``plain``."""

    @hookimpl
    def ultra_llm_register_backends(self, register: Any) -> None:
        register("features", FeatureBackend)
        register("plain", PlainBackend)
