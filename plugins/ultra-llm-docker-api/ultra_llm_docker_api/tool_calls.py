"""Tool calls in the OpenAI wire shape, read from a whole completion or from stream deltas.

Pure functions: decoded JSON in, ``ToolCall`` / ``ToolCallDelta`` out, ``MalformedResponse`` for a
shape that is not the protocol's. What llama.cpp's ``llama-server`` (b9878, the engine Docker Model
Runner runs) sends:

* whole (``common/chat.cpp:240-256``, ``common_chat_msg::to_json_oaicompat``): ``message.tool_calls``
  is a list of ``{"type": "function", "function": {"name", "arguments"}, "id"}`` with ``arguments``
  a JSON *string*; ``id`` only when set (the server sets one, ``tools/server/server-task.cpp:171``);
  ``content`` is ``""`` beside the calls (``common/chat.cpp:227-229``), ``null`` from other servers.
* streamed (``tools/server/server-chat.cpp:550-576``, ``server_chat_msg_diff_to_json_oaicompat``):
  each event's ``delta.tool_calls`` holds ONE entry ``{"index": i}``, plus ``"id"`` and ``"type"``
  only when the diff carries an id, and ``function`` with ``name`` and/or ``arguments`` only when
  non-empty. The chat stream computes plain diffs (``update_chat_msg(content, true, diffs)`` at
  ``tools/server/server-task.cpp:1013``, so the ``filter_tool_calls`` branch at 175-230 is not
  taken): a call's first delta is the whole call parsed so far, id, name and the arguments begun
  (``common/chat.cpp:323-327``); later deltas carry only the next ``arguments`` text, split as
  the model's tokens fall (``common/chat.cpp:312-321``), and repeat the id with the WHOLE name only
  when the parser saw the name grow (a partial name first, ``common/chat.cpp:300-318``). Ids are
  stable per index (``common/chat.h:108-119``). Calls come one after the other (only the last call
  grows); OpenAI's own API may interleave them by ``index``, which the assembler handles too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ultra_llm.plugin import ToolCall, ToolCallDelta

__all__ = ["as_deltas", "calls_from_message", "deltas_from_delta", "shape_error"]


class _Shape(ValueError):
    """Raised inside this module; the callers turn it into ``MalformedResponse`` with context."""


def _snippet(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _arguments(value: object, where: str) -> str:
    """The raw arguments text: a string as sent; an object (Ollama, some vLLM parsers) as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    raise _Shape(f"{where}.function.arguments is neither a string nor an object")


def _array(value: object, where: str) -> list[Any]:
    """A ``tool_calls`` member, which must be an array."""
    if not isinstance(value, list):
        raise _Shape(f"{where} is not an array")
    return value


def _entry(entry: object, where: str, position: int) -> tuple[Mapping[str, Any], str | None, str]:
    """Entry ``position`` of the ``tool_calls`` array at ``where`` as ``(entry, name, arguments)``,
    its members' types checked (``function`` an object, ``id`` and ``name`` strings, when present).
    Its location is spelled out only for an error (a stream reads hundreds of entries)."""
    if not isinstance(entry, dict):
        raise _Shape(f"{where}[{position}] is not an object")
    function = entry.get("function")
    if function is None:
        function = {}
    elif not isinstance(function, dict):
        raise _Shape(f"{where}[{position}].function is not an object")
    call_id, name = entry.get("id"), function.get("name")
    if call_id is not None and not isinstance(call_id, str):
        raise _Shape(f"{where}[{position}].id is not a string")
    if name is not None and not isinstance(name, str):
        raise _Shape(f"{where}[{position}].function.name is not a string")
    arguments = function.get("arguments")
    return (
        entry,
        name or None,
        arguments if isinstance(arguments, str) else _arguments(arguments, f"{where}[{position}]"),
    )


_WHOLE = "choices[0].message.tool_calls"
_DELTA = "delta.tool_calls"


def calls_from_message(message: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    """The calls of a whole completion's ``choices[0].message`` (``()`` when it has none).

    A call without an ``id`` gets ``call_<position>`` (as ``ToolCallAssembler`` names them), so
    the ``tool`` message answering it can still name it. Raises ``ValueError`` for a bad shape.
    """
    raw = message.get("tool_calls")
    if raw is None:
        return ()
    calls: list[ToolCall] = []
    for position, item in enumerate(_array(raw, _WHOLE)):
        entry, name, arguments = _entry(item, _WHOLE, position)
        if name is None:
            raise _Shape(f"{_WHOLE}[{position}] has no function name")
        calls.append(ToolCall(entry.get("id") or f"call_{position}", name, arguments or "{}"))
    return tuple(calls)


def deltas_from_delta(delta: Mapping[str, Any]) -> tuple[ToolCallDelta, ...]:
    """The tool-call pieces of one stream event's ``choices[0].delta`` (``()`` when none).

    Each entry needs its ``index`` (a whole number, 0 or more: it says which call the piece
    belongs to); ``id``, ``function.name`` and ``function.arguments`` are optional. Raises
    ``ValueError`` for a bad shape.
    """
    raw = delta.get("tool_calls")
    if raw is None:
        return ()
    pieces: list[ToolCallDelta] = []
    for position, item in enumerate(_array(raw, _DELTA)):
        entry, name, arguments = _entry(item, _DELTA, position)
        index = entry.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise _Shape(f"{_DELTA}[{position}] has no index (a whole number that says which call it continues)")
        pieces.append(ToolCallDelta(index, entry.get("id") or None, name, arguments))
    return tuple(pieces)


def shape_error(exc: ValueError, event: object) -> str:
    """The ``MalformedResponse`` message for a bad tool-call shape in ``event``."""
    return f"{exc} in {_snippet(event)!r}"


def as_deltas(calls: Iterable[ToolCall]) -> Iterator[ToolCallDelta]:
    """Whole calls as one streamed piece each (a server that answered a stream whole)."""
    for index, call in enumerate(calls):
        yield ToolCallDelta(index, call.id, call.name, call.arguments)
