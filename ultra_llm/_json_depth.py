"""JSON with a bounded depth: what a model, a server or a caller sends is read and written only up
to ``MAX_JSON_DEPTH`` levels of arrays and objects.

Python's JSON decoder and encoder, pydantic and FastAPI's encoder all recurse once (or more) per
level, so text nested a few hundred levels deep ends in a ``RecursionError`` somewhere, at a depth
that depends on the stack. Here the depth is counted without recursion, before anything recursive
sees the text or the value, and anything deeper is a ``JSONDepthError`` (a ``ValueError``, like any
other malformed JSON) naming the limit. The one owner of that limit: parsers, the request builder and
the web API's request check all use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "JSONDepthError", "check_depth", "json_dumps", "json_loads"]

MAX_JSON_DEPTH = 200
"""The most levels of nested arrays and objects read or written: far above any real schema, answer
or tool call, and below every limit after it: the decoder's and FastAPI's encoder's stack (about
1,000 frames), and pydantic's serialiser (255 levels, counting the response models around a value)."""

_TOKENS = r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]'
"""A JSON string (to the end of the text when it is not closed: each character is looked at once) or
a bracket."""
_TOKEN = re.compile(_TOKENS, re.DOTALL)


class JSONDepthError(ValueError):
    """JSON text or a value nested deeper than the limit (``limit``, in levels)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"nested more than {limit} levels deep (the most ultra-llm reads or writes)")


def _text_too_deep(data: str | bytes, limit: int) -> bool:
    """Whether the arrays and objects of JSON text ``data`` nest deeper than ``limit`` (brackets in
    strings do not count); linear, no recursion."""
    openers = data.count("[") + data.count("{") if isinstance(data, str) else data.count(b"[") + data.count(b"{")
    if openers <= limit:  # the common case, at the speed of str.count
        return False
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")  # brackets and quotes are ASCII
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def json_loads(data: str | bytes, *, limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads``; ``JSONDepthError`` (a ``ValueError``) for text nested deeper than ``limit``,
    checked before the recursive decoder runs; other malformed text raises ``ValueError`` as usual."""
    if _text_too_deep(data, limit):
        raise JSONDepthError(limit)
    try:
        return json.loads(data)
    except RecursionError:  # only when the caller's own stack is already nearly full
        raise JSONDepthError(limit) from None


def check_depth(value: Any, *, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ``JSONDepthError`` when ``value`` (mappings, lists and tuples inside each other) nests
    deeper than ``limit``; walked without recursion, so any depth is safe to check."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= limit:
            raise JSONDepthError(limit)
        stack.extend((child, depth + 1) for child in children)


def json_dumps(value: Any, *, limit: int = MAX_JSON_DEPTH, **options: Any) -> str:
    """``json.dumps(value, **options)`` after ``check_depth``: ``JSONDepthError`` instead of a
    ``RecursionError`` for a value nested deeper than ``limit``."""
    check_depth(value, limit=limit)
    return json.dumps(value, **options)
