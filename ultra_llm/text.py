"""Text that can cross a boundary: no lone surrogates.

A lone surrogate (U+D800 to U+DFFF on its own) is what invalid UTF-8 in ``argv`` decodes to in
Python, and what a JSON ``"\\ud800"`` escape gives; no UTF-8 wire, file or terminal can carry it,
so text holding one is refused where it comes in (``require_text``) rather than failing later
inside a backend or half-way through a response.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import InvalidOptionsError

__all__ = ["lone_surrogate_path", "preview", "require_text"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_path(value: object, path: str = "") -> str | None:
    """Where in ``value`` (a string, or strings nested in mappings, lists and tuples, keys included) a
    lone surrogate is, as a dotted path from ``path`` (``"options.stop.0"``); ``None`` when there is none."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SURROGATE.search(key):
                return where
            found = lone_surrogate_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = lone_surrogate_path(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def require_text(value: object, what: str) -> None:
    """Raise ``InvalidOptionsError`` (exit 2, HTTP 422) when ``value`` holds a lone surrogate; ``what``
    names the value in the message (``"the prompt"``, ``"option 'stop'"``)."""
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
    message that shows what was given without pasting a whole prompt or image into it."""
    text = repr(dict(value) if isinstance(value, Mapping) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
