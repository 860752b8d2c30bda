"""Tool calling: tool definitions, the calls a model makes, and their assembly from a stream.

ultra-llm runs no tools: the model asks for calls (``Result.tool_calls``), the caller runs them and
sends each result back as a ``Message("tool", text, tool_call_id=call.id)``. Shapes are OpenAI's
(``tools``, ``tool_choice``, ``tool_calls``), which llama-server takes and returns when started
with ``--jinja``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._json_depth import JSONDepthError, json_dumps, json_loads
from ._text import preview
from .errors import InvalidOptionsError, StructuredOutputError

__all__ = ["Tool", "ToolCall", "ToolCallAssembler", "ToolCallDelta", "to_tool_choice", "to_tools"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""The tool names the OpenAI API accepts; llama.cpp's templates put them in the prompt as they are."""

_TOOLS_FIX = (
    'Pass tools in the OpenAI shape: [{"type": "function", "function": {"name": "get_weather", '
    '"description": "...", "parameters": {"type": "object", "properties": {...}}}}].'
)


@dataclass(frozen=True)
class Tool:
    """A function the model may ask to call: its name, what it does, a JSON Schema of its arguments."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI wire shape."""
        function: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}

    @classmethod
    def from_value(cls, value: Tool | Mapping[str, Any]) -> Tool:
        """A tool from a ``Tool`` or an OpenAI definition (``{"type": "function", "function": {...}}``,
        or the inner ``function`` mapping); ``InvalidOptionsError`` when it is neither."""
        if isinstance(value, Tool):
            return _checked(value)
        if not isinstance(value, Mapping):
            raise InvalidOptionsError(f"A tool must be a mapping, got {type(value).__name__}.", fix=_TOOLS_FIX)
        inner = value.get("function") if value.get("type") == "function" else value
        if not isinstance(inner, Mapping) or not isinstance(inner.get("name"), str):
            raise InvalidOptionsError(f"A tool definition has no function name: {preview(value)}.", fix=_TOOLS_FIX)
        parameters = inner.get("parameters", {"type": "object", "properties": {}})
        description = inner.get("description", "")
        if not isinstance(parameters, Mapping) or not isinstance(description, str):
            raise InvalidOptionsError(
                f"Tool '{inner['name']}' needs a JSON Schema object as parameters and a string description.",
                fix=_TOOLS_FIX,
            )
        return _checked(cls(inner["name"], description, parameters))


def _checked(tool: Tool) -> Tool:
    if not _NAME.fullmatch(tool.name):
        raise InvalidOptionsError(
            f"Tool name {tool.name[:80]!r} is not 1 to 64 letters, digits, '_' or '-'.", fix=_TOOLS_FIX
        )
    return tool


def to_tools(values: Iterable[Tool | Mapping[str, Any]]) -> tuple[Tool, ...]:
    """The tools of a request, each checked; ``InvalidOptionsError`` for a bad one or a repeated name."""
    if isinstance(values, (str, bytes, Mapping)):
        raise InvalidOptionsError("`tools` must be a list of tool definitions.", fix=_TOOLS_FIX)
    tools = tuple(Tool.from_value(value) for value in values)
    names = [tool.name for tool in tools]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidOptionsError(f"Tool names must be unique; repeated: {', '.join(repeated)}.", fix=_TOOLS_FIX)
    return tools


def to_tool_choice(value: Any, tools: Sequence[Tool]) -> str | Mapping[str, Any] | None:
    """``"auto"``, ``"none"``, ``"required"``, a tool's name, or ``{"type": "function", "function":
    {"name": ...}}``, as the OpenAI shape (a name becomes the mapping); ``None`` stays ``None``."""
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        if not tools and value != "none":
            raise InvalidOptionsError(f"tool_choice '{value}' needs tools.", fix="Pass `tools` with it.")
        return str(value)
    name = value
    if isinstance(value, Mapping):
        function = value.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str) or name not in {tool.name for tool in tools}:
        known = ", ".join(tool.name for tool in tools) or "none"
        raise InvalidOptionsError(
            f"tool_choice {preview(value)} names no tool of the request (tools: {known}).",
            fix="Use 'auto', 'none', 'required' or the name of one of the tools passed.",
        )
    return {"type": "function", "function": {"name": name}}


@dataclass(frozen=True)
class ToolCall:
    """A call the model asks for: its id (echo it in the ``tool`` message), the tool's name, and the
    arguments as the model wrote them (raw JSON text; ``parsed_arguments`` decodes them)."""

    id: str
    name: str
    arguments: str = "{}"

    @property
    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON; ``StructuredOutputError`` (keeping the raw text) when the
        model wrote something that is not JSON or is nested deeper than ``MAX_JSON_DEPTH``."""
        try:
            return json_loads(self.arguments or "{}")
        except ValueError as exc:
            problem = f"are JSON {exc}" if isinstance(exc, JSONDepthError) else "are not valid JSON"
            raise StructuredOutputError(
                f"The arguments of tool call '{self.name}' {problem}.",
                output=self.arguments,
                fix="Ask again (a lower temperature helps), or read the raw text in `arguments`.",
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI wire shape (what an assistant message sends back)."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping for people and programs: id, name, raw and parsed arguments (``None``
        when they are not JSON, or too deep to read)."""
        try:
            parsed = self.parsed_arguments
        except StructuredOutputError:
            parsed = None
        return {"id": self.id, "name": self.name, "arguments": self.arguments, "parsed_arguments": parsed}

    @classmethod
    def from_value(cls, value: ToolCall | Mapping[str, Any]) -> ToolCall:
        """A call from a ``ToolCall`` or its OpenAI mapping; ``ValueError`` when it is neither (or its
        arguments, given as an object, nest deeper than ``MAX_JSON_DEPTH``)."""
        if isinstance(value, ToolCall):
            return value
        function = value.get("function") if isinstance(value, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ValueError(f"a tool call needs a function name, got {preview(value)}")
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json_dumps(arguments)
        return cls(str(value.get("id") or ""), function["name"], arguments)


@dataclass(frozen=True)
class ToolCallDelta:
    """A streamed piece of a tool call: ``index`` says which call; the first piece of a call usually
    carries its ``id`` and ``name``, later ones more ``arguments`` text."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class _Growing:
    """One call being assembled: its id and name so far, its arguments' pieces."""

    __slots__ = ("arguments", "call_id", "name")

    def __init__(self, call_id: str | None, name: str | None) -> None:
        self.call_id = call_id
        self.name = name
        self.arguments: list[str] = []


class ToolCallAssembler:
    """Joins streamed ``ToolCallDelta`` pieces into whole ``ToolCall`` objects, in index order."""

    def __init__(self) -> None:
        self._calls: dict[int, _Growing] = {}

    def add(self, delta: ToolCallDelta) -> None:
        """Take one piece: the first id sets it, a name replaces the one so far (llama-server repeats
        the whole name when its parser saw a partial one grow, llama.cpp ``common/chat.cpp:300-318``),
        arguments text is appended."""
        call = self._calls.get(delta.index)
        if call is None:
            call = self._calls[delta.index] = _Growing(delta.id, delta.name)
        else:
            if delta.name:
                call.name = delta.name
            if call.call_id is None:
                call.call_id = delta.id
        if delta.arguments:
            call.arguments.append(delta.arguments)

    def calls(self) -> tuple[ToolCall, ...]:
        """The calls so far; a call the server sent without an id gets ``call_<index>``."""
        return tuple(
            ToolCall(call.call_id or f"call_{index}", call.name or "", "".join(call.arguments) or "{}")
            for index, call in sorted(self._calls.items())
        )
