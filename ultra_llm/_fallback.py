"""Model fallback chains: the model to try next when one cannot answer, and how long a failing one is skipped.

A call's chain is its ``fallback_models``, else its model's entry in ``ULTRA_LLM_MODEL_FALLBACKS``
(``MODEL=NEXT[,NEXT...]``, several separated by ``;``). The adapter walks it (``Fallbacks``) before a
stream's first chunk and before a whole answer, never after: each attempt is a request of its own for
one model, through the middleware (a cache keys it by that model) to the backend. What moves on:

- ``ModelNotFoundError``: no server of the backend has the model (``not_found``);
- ``OverloadedError``: its servers refused for load after the backend's retries (``overloaded``);
- ``BackendUnavailableError``: its servers are down (``unavailable``);
- ``ContextLengthExceededError``: the prompt does not fit (``context_length``): the next model whose
  context window (``ModelInfo.context_window``) is larger, models with a window known to be too
  small passed over.

Anything else (a timeout: the call's deadline is spent; a bad request; an interrupted stream) is the
call's answer. A model that failed for a reason of its own (not the prompt's length) cools down for
``ULTRA_LLM_MODEL_COOLDOWN`` seconds (``Cooldowns``): calls meanwhile pass it over without paying
for the failure, unless it is the last of their chain.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from ._types import Fallback, GenerationRequest
from .errors import (
    BackendUnavailableError,
    ContextLengthExceededError,
    ModelNotFoundError,
    OverloadedError,
    UltraLLMError,
)

__all__ = ["Cooldowns", "Fallbacks", "fallback_reason", "parse_chains"]


def parse_chains(text: str) -> dict[str, tuple[str, ...]]:
    """``MODEL=NEXT[,NEXT...][;MODEL=...]`` as a mapping (names as written); ``ValueError`` saying what
    is wrong for text of another shape."""
    chains: dict[str, tuple[str, ...]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        model, equals, rest = part.partition("=")
        model = model.strip()
        nexts = tuple(name.strip() for name in rest.split(",") if name.strip())
        if not equals or not model or not nexts:
            raise ValueError(f"{part.strip()!r} is not MODEL=NEXT[,NEXT...] (several separated by ';')")
        if model in chains:
            raise ValueError(f"{model!r} is given two chains")
        chains[model] = nexts
    return chains


def fallback_reason(error: UltraLLMError) -> str | None:
    """The ``Fallback.reason`` ``error`` is, or ``None`` when it is not one a chain moves on for."""
    if isinstance(error, ModelNotFoundError):
        return "not_found"
    if isinstance(error, OverloadedError):
        return "overloaded"
    if isinstance(error, BackendUnavailableError):
        return "unavailable"
    if isinstance(error, ContextLengthExceededError):
        return "context_length"
    return None


class Cooldowns:
    """The models that failed lately, each skipped until its cooldown ends (``clock``: monotonic
    seconds, injectable)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._until: dict[str, tuple[float, str]] = {}

    def fail(self, model: str, why: str) -> None:
        """``model`` failed (``why``, a sentence): skip it for ``seconds`` from now."""
        if self.seconds > 0:
            self._until[model] = (self.clock() + self.seconds, why)

    def succeed(self, model: str) -> None:
        """``model`` answered: no longer cooling down."""
        self._until.pop(model, None)

    def cooling(self, model: str) -> str | None:
        """Why ``model`` is skipped now (a sentence with the seconds left), or ``None`` when it is not."""
        entry = self._until.get(model)
        if entry is None:
            return None
        until, why = entry
        left = until - self.clock()
        if left <= 0:
            del self._until[model]
            return None
        return f"{why} (skipped for {left:.0f} s more, ULTRA_LLM_MODEL_COOLDOWN)"


class Fallbacks:
    """One call's way down its chain: ``next()`` gives each attempt's request, ``failed()`` says
    whether a failure moves on. ``windows`` reads the models' context windows, once, and only when a
    prompt was too long for one."""

    def __init__(
        self,
        request: GenerationRequest,
        cooldowns: Cooldowns,
        windows: Callable[[], Awaitable[Mapping[str, int | None]]],
    ) -> None:
        self.request = request
        self.models = (request.model, *request.fallback_models)
        self.cooldowns = cooldowns
        self._windows = windows
        self._position = 0
        self._passed: list[str] = []
        self._first: tuple[str, str] | None = None
        self._needs: int | None = None

    async def next(self) -> GenerationRequest | None:
        """The next attempt's request (the requested model's first), or ``None`` when none is left."""
        while self._position < len(self.models):
            model = self.models[self._position]
            self._position += 1
            last = self._position == len(self.models)
            if self._position > 1 and self._needs is not None:
                window = (await self._windows()).get(model)
                if window is not None and window < self._needs:
                    self._pass(model, "context_length", f"its context window ({window} tokens) is smaller")
                    continue
            cooling = self.cooldowns.cooling(model)
            if cooling is not None and not last:
                self._pass(model, "cooling_down", cooling)
                continue
            return self._attempt(model)
        return None

    def failed(self, model: str, error: UltraLLMError) -> bool:
        """Whether ``model``'s ``error`` moves the call on down its chain (the caller then asks ``next()``)."""
        reason = fallback_reason(error)
        if reason is None or len(self.models) == 1:
            return False
        if reason == "context_length":
            assert isinstance(error, ContextLengthExceededError)
            floor = error.requested if error.requested is not None else error.available
            if floor is not None:  # the next model needs a window past the prompt (or past this one's)
                self._needs = max(self._needs or 0, floor + 1)
        else:
            self.cooldowns.fail(model, error.message)
        self._pass(model, reason, error.message)
        return True

    def answered(self, model: str) -> None:
        """``model`` answered: its cooldown, if any, is over."""
        self.cooldowns.succeed(model)

    def _pass(self, model: str, reason: str, message: str) -> None:
        self._passed.append(model)
        if self._first is None:
            self._first = (reason, message)

    def _attempt(self, model: str) -> GenerationRequest:
        if model == self.request.model:
            return self.request
        assert self._first is not None
        reason, message = self._first
        fallback = Fallback(self.request.model, model, reason, message, tuple(self._passed))
        return replace(self.request, model=model, fallback_models=(), fallback=fallback)
