"""Model lifecycle values: what is loaded (``ps``), disk usage (``df``), and a model's runtime
settings (``configure``) with the checks every server shares.

Plain frozen dataclasses, no I/O: backends that manage loaded models (``capabilities.LoadedModels``)
return them, the adapter and the CLI show them. The context-size range is checked here, once; a
keep-alive's grammar is the server's, so the backend checks it (``LoadedModels.check_settings``),
which the adapter calls before anything is unloaded or changed.
"""

from __future__ import annotations

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
]

MAX_CONTEXT_SIZE = 2**31 - 1
"""The largest context size a server takes (an ``int32``)."""

UNLIMITED_CONTEXT = -1
"""``--context-size -1``: the model's whole trained context (llama.cpp's own reading of it)."""


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
    """How long the model stays loaded when idle, in the server's own grammar (its backend checks it)."""
    think: bool | None = None
    """A reasoning model thinks (``True``: no budget) or not (``False``), for every request to it."""

    def __post_init__(self) -> None:
        if self.context_size is not None:
            check_context_size(self.context_size)
        if self.keep_alive is not None and (not isinstance(self.keep_alive, str) or not self.keep_alive.strip()):
            raise InvalidOptionsError(
                f"Keep-alive {self.keep_alive!r} is not a duration.", fix="Give a duration such as 5m."
            )
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
    runner: str | None = None
    """The server it is loaded on, when the backend has several (its URL as configured); else ``None``."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "name": self.name,
            "backend": self.backend,
            "runner": self.runner,
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
    runner: str | None = None
    """The server this usage is of, when it is one of several (its URL as configured); else ``None``."""
    runners: tuple[DiskUsage, ...] = ()
    """With several servers: each one's usage (``runner`` set), the byte counts above their sums."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "backend": self.backend,
            "runner": self.runner,
            "models_bytes": self.models_bytes,
            "engine_bytes": self.engine_bytes,
            "shown": dict(self.shown),
            "runners": [usage.to_dict() for usage in self.runners],
        }
