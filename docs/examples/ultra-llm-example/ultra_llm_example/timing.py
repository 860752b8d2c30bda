"""The timing middleware: every generation, on every backend, timed and logged once.

Imported by the plugin's ``ultra_llm_middleware`` hook when an adapter is made, never at start-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ultra_llm.plugin import GenerateNext, Middleware, StreamNext, closing_stream

if TYPE_CHECKING:
    from ultra_llm.plugin import Chunk, GenerationRequest, Result

__all__ = ["LOGGER_NAME", "Timing", "TimingMiddleware"]

LOGGER_NAME = "ultra_llm_example.timing"
logger = logging.getLogger(LOGGER_NAME)


@dataclass(frozen=True)
class Timing:
    """One timed generation, attached to its log record as ``record.timing``.

    ``first_chunk_seconds`` and ``chunks`` are set for streams only; ``error`` is the exception's
    type name when the generation failed (the exception itself still reaches the caller).
    """

    kind: str
    backend: str
    model: str
    seconds: float
    first_chunk_seconds: float | None = None
    chunks: int | None = None
    error: str | None = None


def _log(timing: Timing) -> None:
    # One line for people, and the structured ``Timing`` for log handlers (``extra``).
    logger.info(
        "%s on %s (%s) took %.3f s%s",
        timing.kind,
        timing.backend,
        timing.model,
        timing.seconds,
        f", failed with {timing.error}" if timing.error else "",
        extra={"timing": timing},
    )


# --8<-- [start:middleware]
class TimingMiddleware(Middleware):
    """Times every whole and streamed generation through the adapter it was made for.

    ``call_next(request)`` runs the rest of the chain (other plugins' middleware, then the
    backend), so the ``try`` around it sees the backend's errors. ``embed`` is left out: the
    chain then skips this layer for embeddings at no cost.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend

    async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
        started = time.perf_counter()
        error: str | None = None
        try:
            return await call_next(request)
        except BaseException as exc:  # failures and cancellations are timed too, then re-raised
            error = type(exc).__name__
            raise
        finally:
            _log(Timing("generate", self.backend, request.model, time.perf_counter() - started, error=error))

    async def stream(self, request: GenerationRequest, call_next: StreamNext) -> AsyncIterator[Chunk]:
        started = time.perf_counter()
        first: float | None = None
        chunks = 0
        error: str | None = None
        try:
            # closing_stream: when the caller stops early, the inner stream is closed too, so the
            # backend cancels its work.
            async with closing_stream(call_next(request)) as stream:
                async for chunk in stream:
                    if first is None:
                        first = time.perf_counter() - started
                    chunks += 1
                    yield chunk
        except BaseException as exc:  # GeneratorExit here means the caller closed the stream early
            error = None if isinstance(exc, GeneratorExit) else type(exc).__name__
            raise
        finally:
            timing = Timing("stream", self.backend, request.model, time.perf_counter() - started, first, chunks, error)
            _log(timing)


# --8<-- [end:middleware]
