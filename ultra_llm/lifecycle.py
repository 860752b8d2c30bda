"""Model lifecycle values: what is loaded (``ps``), disk usage (``df``), and the one validator of a
model's runtime settings (``configure``).

Plain frozen dataclasses, no I/O: backends that manage loaded models (``capabilities.LoadedModels``)
return them, the adapter and the CLI show them. The grammar of keep-alive durations and context sizes
lives here once, so every backend and the CLI refuse the same input with the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidOptionsError

__all__ = [
    "MAX_CONTEXT_SIZE",
    "UNLIMITED_CONTEXT",
    "DiskUsage",
    "ModelSettings",
    "RunningModel",
    "check_context_size",
    "check_keep_alive",
]

MAX_CONTEXT_SIZE = 2**31 - 1
"""The largest context size a server takes (an ``int32``)."""

UNLIMITED_CONTEXT = -1
"""``--context-size -1``: the model's whole trained context (llama.cpp's own reading of it)."""

_GO_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h)")


def check_keep_alive(value: str) -> str:
    """``value`` if a server takes it as a keep-alive, else ``InvalidOptionsError``: ``0`` (unload when
    idle), ``-1`` or any negative duration (never unload), or a Go duration (``30s``, ``5m``, ``1h30m``;
    ``time.ParseDuration``: a sign, then number-unit pairs, units ns us µs ms s m h). The runners'
    own grammar (sources cited where the backends send it) is kept here only, for every backend.
    """
    text = value.strip()
    body = text[1:] if text[:1] in "+-" else text
    if text in ("0", "-1") or (body and _GO_DURATION.sub("", body) == "" and _GO_DURATION.match(body)):
        return text
    raise InvalidOptionsError(
        f"Keep-alive {value!r} is not a duration.",
        fix="Use a Go duration such as 30s, 5m or 1h30m; 0 unloads the model when idle, -1 keeps it loaded.",
    )


def check_context_size(value: int) -> int:
    """``value`` if it is a context size a server takes (1 to 2^31-1 tokens, or -1 for the model's
    whole trained context), else ``InvalidOptionsError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOptionsError(f"Context size {value!r} is not a whole number of tokens.")
    if value == UNLIMITED_CONTEXT or 1 <= value <= MAX_CONTEXT_SIZE:
        return value
    raise InvalidOptionsError(
        f"Context size {value} is out of range.",
        fix=f"Give a number of tokens from 1 to {MAX_CONTEXT_SIZE} (e.g. 4096), or -1 for the model's whole "
        "trained context.",
    )


@dataclass(frozen=True)
class ModelSettings:
    """A model's runtime settings as ``configure`` sets them (``None``: leave it as it is)."""

    context_size: int | None = None
    keep_alive: str | None = None
    think: bool | None = None
    """A reasoning model thinks (``True``: no budget) or not (``False``), for every request to it."""

    def __post_init__(self) -> None:
        if self.context_size is not None:
            check_context_size(self.context_size)
        if self.keep_alive is not None:
            object.__setattr__(self, "keep_alive", check_keep_alive(self.keep_alive))
        if self.think is not None and not isinstance(self.think, bool):
            raise InvalidOptionsError(f"think must be true or false, got {self.think!r}.", fix="Pass a boolean.")
        if self.context_size is None and self.keep_alive is None and self.think is None:
            raise InvalidOptionsError(
                "Nothing to configure.",
                fix="Give a context size (--context-size N), a keep-alive (--keep-alive 5m) or --think/--no-think.",
            )


@dataclass(frozen=True)
class RunningModel:
    """A model loaded in a server's memory (one row of ``ps``).

    ``until`` is when it is unloaded as the server tells (``"4 minutes from now"``, ``"Forever"``,
    ``"Loading..."``) when it says; ``keep_alive`` the configured duration when known.
    """

    name: str
    backend: str
    engine: str | None = None
    mode: str | None = None
    until: str | None = None
    in_use: bool | None = None
    loading: bool | None = None
    keep_alive: str | None = None
    last_used: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "name": self.name,
            "backend": self.backend,
            "engine": self.engine,
            "mode": self.mode,
            "until": self.until,
            "in_use": self.in_use,
            "loading": self.loading,
            "keep_alive": self.keep_alive,
            "last_used": self.last_used,
        }


@dataclass(frozen=True)
class DiskUsage:
    """What the server's models (and its default engine) take on disk, in bytes (``None``: not known)."""

    backend: str
    models_bytes: int | None = None
    engine_bytes: int | None = None
    shown: tuple[tuple[str, str], ...] = ()
    """The rows as the server printed them (``("Models", "1.23GB")``), when it printed a table."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "backend": self.backend,
            "models_bytes": self.models_bytes,
            "engine_bytes": self.engine_bytes,
            "shown": dict(self.shown),
        }
