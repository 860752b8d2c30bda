"""Text that can cross a boundary: no lone surrogates.

A lone surrogate (U+D800 to U+DFFF on its own) is what invalid UTF-8 in ``argv`` decodes to in
Python, and what a JSON ``"\\ud800"`` escape gives; no UTF-8 wire, file or terminal can carry it,
so text holding one is refused where it comes in (``require_text``) rather than failing later
inside a backend or half-way through a response.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._json_depth import JSONDepthError, check_depth
from .errors import InvalidOptionsError

__all__ = ["is_text", "lone_surrogate_path", "preview", "require_text"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_SCALARS = (int, float, bool, type(None))


def is_text(value: str) -> bool:
    """True when the string holds no lone surrogate (ASCII text, the common case, without a search)."""
    return value.isascii() or _SURROGATE.search(value) is None


def _plainly_text(value: object) -> bool:
    """True when ``value`` is plainly free of lone surrogates without a walk: ``None``, a string, or a
    flat dict of strings and scalars with string keys (the common options); ``False``: walk it."""
    if value is None:
        return True
    if type(value) is str:
        return is_text(value)
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or not is_text(key):
                return False
            if type(item) is str:
                if not is_text(item):
                    return False
            elif not isinstance(item, _SCALARS):
                return False
        return True
    return False


def lone_surrogate_path(value: object, path: str = "") -> str | None:
    """Where in ``value`` (a string, or strings nested in mappings, lists and tuples, keys included) a
    lone surrogate is, as a dotted path from ``path`` (``"options.stop.0"``); ``None`` when there is none.

    The path is valid text itself (a key's lone surrogate shown ``\\ud800``-escaped), so it can go in
    any message; walked without recursion, so no depth of nesting can break it."""
    stack: list[tuple[str, object]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return where
        elif isinstance(item, Mapping):
            children: list[tuple[str, object]] = []
            for key, child in item.items():
                at = f"{where}.{_escaped(key)}" if where else _escaped(key)
                if isinstance(key, str) and _SURROGATE.search(key):
                    children.append((at, key))  # found when its turn comes, in order
                    break
                children.append((at, child))
            stack.extend(reversed(children))
        elif isinstance(item, (list, tuple)):
            stack.extend(
                (f"{where}.{index}" if where else str(index), child) for index, child in reversed(list(enumerate(item)))
            )
    return None


def _escaped(key: object) -> str:
    """A mapping key as a path segment: lone surrogates ``\\u``-escaped, so the path is valid text."""
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", str(key))


def require_text(value: object, what: str) -> None:
    """Raise ``InvalidOptionsError`` (exit 2, HTTP 422) when ``value`` holds a lone surrogate; ``what``
    names the value in the message (``"the prompt"``, ``"option 'stop'"``)."""
    if _plainly_text(value):
        return
    where = lone_surrogate_path(value)
    if where is not None:
        at = f" (at {where})" if where else ""
        raise InvalidOptionsError(
            f"{what[:1].upper()}{what[1:]} is not valid text{at}: it holds a lone surrogate, what invalid UTF-8 "
            "bytes or a JSON \\ud800-style escape decode to.",
            fix="Send text encoded as valid UTF-8 (fix the terminal's or the file's encoding).",
        )


def preview(value: object, limit: int = 120) -> str:
    """``repr`` of ``value`` (a mapping as a plain dict) cut to ``limit`` characters, for an error
    message that shows what was given without pasting a whole prompt or image into it (a value nested
    deeper than ``MAX_JSON_DEPTH``, which ``repr`` cannot walk, is only named)."""
    try:
        check_depth(value)
    except JSONDepthError as exc:
        return f"<a {type(value).__name__} {exc}>"
    text = repr(dict(value) if isinstance(value, Mapping) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
