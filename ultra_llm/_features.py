"""The request features beyond text (tools, a response format, reasoning control, images): read from
a call's options and checked against what the backend declares, in one place (the adapter's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._json_depth import JSONDepthError, check_depth
from ._options import FEATURE_OPTIONS
from ._schema_shape import check_schema_shape
from ._structured import ResponseFormat
from ._tools import Tool, to_tool_choice, to_tools
from .errors import InvalidOptionsError, UnsupportedOperationError

if TYPE_CHECKING:
    from ._backend import Backend
    from ._types import Message

__all__ = ["Features", "refuse_too_deep", "refuse_unsupported"]


@dataclass(frozen=True)
class Features:
    """A request's features, validated: the fields of ``GenerationRequest`` they become."""

    tools: tuple[Tool, ...] = ()
    tool_choice: str | Mapping[str, Any] | None = None
    response_format: ResponseFormat | None = None
    reasoning: bool | None = None
    reasoning_budget: int | None = None

    @property
    def plain(self) -> bool:
        """True when the request asks for no tools, schema or tool choice (nothing nested to check)."""
        return not self.tools and self.tool_choice is None and self.response_format is None

    @classmethod
    def pop(cls, options: dict[str, Any]) -> Features:
        """Take the feature options out of ``options`` and validate them (``InvalidOptionsError``), the
        schemas of the response format and the tools' parameters included (``check_schema_shape``)."""
        if options.keys().isdisjoint(FEATURE_OPTIONS):
            return _NO_FEATURES
        tools = to_tools(options.pop("tools", None) or ())
        tool_choice = to_tool_choice(options.pop("tool_choice", None), tools)
        raw_format = options.pop("response_format", None)
        response_format = None if raw_format is None else ResponseFormat.from_value(raw_format)
        for tool in tools:
            check_schema_shape(tool.parameters, f"tool '{tool.name}' parameters")
        if response_format is not None and response_format.schema is not None:
            check_schema_shape(response_format.schema, "response_format")
        reasoning = options.pop("reasoning", None)
        if reasoning is not None and not isinstance(reasoning, bool):
            raise InvalidOptionsError(f"reasoning must be true or false, got {reasoning!r}.", fix="Pass a boolean.")
        budget = options.pop("reasoning_budget", None)
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
            raise InvalidOptionsError(
                f"reasoning_budget must be a whole number of tokens, 0 or more, got {budget!r}.",
                fix="Pass e.g. reasoning_budget=512, or 0 for no thinking.",
            )
        return cls(tools, tool_choice, response_format, reasoning, budget)


_NO_FEATURES = Features()
_FLAT = (str, int, float, bool, type(None))


def refuse_too_deep(options: Mapping[str, Any], features: Features) -> None:
    """Raise ``InvalidOptionsError`` naming the part of a request (the backend's options, the schema,
    a tool's parameters, ``tool_choice``) nested deeper than ``MAX_JSON_DEPTH``: checked without
    recursion, before anything recursive (the text check, freezing the request, a backend) sees it."""
    if features.plain and all(isinstance(value, _FLAT) for value in options.values()):
        return  # nothing nested: the common request
    schema = features.response_format.schema if features.response_format is not None else None
    parts: list[tuple[str, Any]] = [("the options", options), ("the response format's schema", schema)]
    parts += [(f"the parameters of tool '{tool.name}'", tool.parameters) for tool in features.tools]
    parts.append(("tool_choice", features.tool_choice))
    for what, value in parts:
        try:
            check_depth(value)
        except JSONDepthError as exc:
            raise InvalidOptionsError(
                f"The request is {exc}, in {what}.",
                fix="Send a flatter value (a recursive schema can refer to itself with $ref instead of nesting).",
            ) from None


def refuse_unsupported(backend: Backend, features: Features, messages: tuple[Message, ...]) -> None:
    """Raise ``UnsupportedOperationError`` for the first feature the request uses that ``backend``
    does not declare (its ``supports_*`` flags), with the backend's ``unsupported_hint`` as the fix."""
    wanted = (
        (bool(features.tools) or features.tool_choice is not None, backend.supports_tools, "call tools"),
        (features.response_format is not None, backend.supports_response_format, "answer in a JSON schema"),
        (any(message.images for message in messages), backend.supports_images, "read images"),
        (
            features.reasoning is not None or features.reasoning_budget is not None,
            backend.supports_reasoning_control,
            "take reasoning control",
        ),
    )
    for used, supported, what in wanted:
        if used and not supported:
            raise UnsupportedOperationError(
                f"Backend '{backend.name}' cannot {what}.",
                fix=backend.unsupported_hint
                or "Use a backend that can; `ultra-llm backends` lists their capabilities.",
                backend=backend.name,
            )
