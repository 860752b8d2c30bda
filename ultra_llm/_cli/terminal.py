"""Model text bound for a terminal: control characters shown, never obeyed.

A model's answer may hold escape sequences (``ESC [``, OSC titles, C1 controls, backspaces) that a
terminal would act on: recolour, retitle, hide or rewrite what is on screen. On a terminal they are
printed as visible ``\\xNN`` text; anywhere else (a pipe, a file) the answer passes byte-exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TextIO

__all__ = ["for_stream", "neutralise"]

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""C0 controls but tab, newline and carriage return; DEL; the C1 controls (U+0080 to U+009F)."""


def neutralise(text: str) -> str:
    """``text`` with every control character but ``\\t``, ``\\n`` and ``\\r`` written as ``\\xNN``."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _unchanged(text: str) -> str:
    return text


def for_stream(stream: TextIO) -> Callable[[str], str]:
    """``neutralise`` when ``stream`` is a terminal, else the identity (piped output stays exact)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: not a terminal
        tty = False
    return neutralise if tty else _unchanged
