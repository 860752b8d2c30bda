"""The request features on the command line: ``--schema``, ``--tools``, ``--tool-choice``,
``--attach``, ``--reasoning``/``--no-reasoning``, ``--reasoning-budget``; read and checked here
(a typed ``InvalidOptionsError``, exit status 2, for a bad value), validated again by the adapter.

Output: a schema answer is printed as its parsed JSON, tool calls as a JSON list of
``{"id", "name", "arguments", "parsed_arguments"}``; indented on a terminal, one compact line when
piped (so answers append to a JSONL file), always through the terminal escaping.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from .._content import ImagePart, TextPart
from .._files import read_regular_file
from .._json_depth import JSONDepthError, json_loads
from .._structured import ResponseFormat
from .._tools import ToolCall, to_tools
from .._types import Message, Prompt
from ..errors import InvalidOptionsError

__all__ = [
    "MAX_JSON_FILE_BYTES",
    "feature_options",
    "format_json",
    "is_tty",
    "load_json_argument",
    "prompt_with_images",
    "read_images",
    "tool_calls_json",
]

MAX_JSON_FILE_BYTES = 1_048_576
"""The largest ``--schema`` or ``--tools`` file read: far above any real schema or tool list."""

_SCHEMA_FIX = (
    'Pass a JSON Schema inline (--schema \'{"type": "object", ...}\'), OpenAI\'s response_format '
    '({"type": "json_schema", "json_schema": {...}}), or the path of a file holding either.'
)
_TOOLS_FIX = 'Pass a file holding a JSON list of OpenAI tool definitions: [{"type": "function", "function": {...}}].'


def load_json_argument(value: str, what: str, fix: str, *, inline: bool = True) -> Any:
    """JSON given inline (text starting with ``{`` or ``[``, when ``inline``) or the JSON in the file
    at path ``value`` (a regular file of at most ``MAX_JSON_FILE_BYTES``); ``InvalidOptionsError``
    naming ``what`` when it is neither, not JSON, or a file that is not regular or too large."""
    text, source = value, "inline"
    if not (inline and value.lstrip()[:1] in ("{", "[")):
        try:
            data = read_regular_file(
                value, limit=MAX_JSON_FILE_BYTES, what=what, fix="Pass a smaller file (real ones are a few kB)."
            )
            text = data.decode("utf-8")
        except OSError as exc:
            neither = " (it does not start with { or [ either, so it is not inline JSON)" if inline else ""
            raise InvalidOptionsError(
                f"{what}: cannot read the file '{value}': {exc.strerror or exc}{neither}.", fix=fix
            ) from exc
        except UnicodeDecodeError as exc:
            raise InvalidOptionsError(f"{what}: the file '{value}' is not UTF-8 text.", fix=fix) from exc
        source = f"in '{value}'"
    try:
        return json_loads(text)
    except JSONDepthError as exc:
        raise InvalidOptionsError(f"{what} is JSON {exc} ({source}).", fix=fix) from None
    except ValueError as exc:
        raise InvalidOptionsError(f"{what} is not valid JSON ({source}): {exc}.", fix=fix) from exc


def read_images(paths: Sequence[str]) -> tuple[ImagePart, ...]:
    """The attached image files, read now; ``InvalidOptionsError`` for one that cannot be read or
    is not a PNG, JPEG, GIF or BMP image."""
    return tuple(ImagePart.from_file(os.path.expanduser(path)) for path in paths)


def prompt_with_images(text: str, images: Sequence[ImagePart]) -> Prompt:
    """The prompt as sent: the text alone, or one user message of the text and the images."""
    if not images:
        return text
    parts = ((TextPart(text),) if text else ()) + tuple(images)
    return [Message("user", parts)]


def feature_options(
    *,
    schema: str | None,
    tools_file: str | None,
    tool_choice: str | None,
    reasoning: bool | None,
    reasoning_budget: int | None,
) -> dict[str, Any]:
    """The call options the flags ask for (only those given), each read and checked."""
    options: dict[str, Any] = {}
    if schema is not None:
        value = load_json_argument(schema, "--schema", _SCHEMA_FIX)
        options["response_format"] = ResponseFormat.from_value(value)
    if tools_file is not None:
        tools = load_json_argument(tools_file, "--tools", _TOOLS_FIX, inline=False)
        if not isinstance(tools, list):
            raise InvalidOptionsError(
                f"--tools: the file '{tools_file}' holds a JSON {type(tools).__name__}, not a list.", fix=_TOOLS_FIX
            )
        options["tools"] = to_tools(tools)
    if tool_choice is not None:
        if tools_file is None:
            raise InvalidOptionsError("--tool-choice needs --tools.", fix="Pass the tools with --tools FILE.")
        options["tool_choice"] = tool_choice
    if reasoning is not None:
        options["reasoning"] = reasoning
    if reasoning_budget is not None:
        options["reasoning_budget"] = reasoning_budget
    return options


def format_json(data: Any, shown: Callable[[str], str], *, pretty: bool) -> str:
    """``data`` as JSON text for stdout: indented when ``pretty`` (a terminal), else one line;
    non-ASCII kept, control characters escaped for a terminal by ``shown``."""
    text = json.dumps(data, ensure_ascii=False, indent=2 if pretty else None, default=str)
    return shown(text)


def tool_calls_json(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """The calls as people and programs read them: id, name, raw and parsed arguments."""
    return [call.to_json() for call in calls]


def is_tty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (``False`` for a closed or unusual stream)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
