"""The entry-point module: the hooks ultra-llm calls. Keep it light.

(The ``# --8<--`` comments mark the parts the documentation site quotes; drop them in a copy.)

ultra-llm imports this module for ``ultra-llm plugins``, ``--help`` and every start-up, so it
imports only the standard library and ``ultra_llm``'s light public names. The backend (and its
pydantic models) is named by a ``"module:Class"`` string and imported only when it is used.

Two kinds of hook live here:

* ``ultra_llm_register_backends`` registers the ``shout`` backend.
* ``ultra_llm_generate`` and ``ultra_llm_stream`` as ``wrapper=True`` hooks: they wrap every
  generation on every backend (not only ours), time it, and log one line through ``logging``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ultra_llm import hookimpl

if TYPE_CHECKING:  # types only: nothing below is imported at run time
    from ultra_llm import Backend, Chunk, GenerationRequest, Result
    from ultra_llm.registry import BackendRegistrar
    from ultra_llm.types import GenerateCall, StreamCall

__all__ = ["LOGGER_NAME", "Timing", "ultra_llm_generate", "ultra_llm_register_backends", "ultra_llm_stream"]

LOGGER_NAME = "ultra_llm_example.timing"
logger = logging.getLogger(LOGGER_NAME)


# --8<-- [start:register]
@hookimpl
def ultra_llm_register_backends(register: BackendRegistrar) -> None:
    """Register the ``shout`` backend, lazily: the string is imported on first use, not now."""
    register(
        "shout",
        "ultra_llm_example.backend:ShoutBackend",
        summary="Answers by shouting (or reversing) the prompt: an example backend.",
        aliases=["example-shout"],
    )


# --8<-- [end:register]


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


# --8<-- [start:generate]
# A new-style wrapper (``wrapper=True``): the code before ``yield`` runs before the inner
# implementations, ``yield`` returns their result (here the call that will generate), and what we
# return replaces it. ultra_llm_generate is ``firstresult``, so the result is one call or None.
@hookimpl(wrapper=True)
def ultra_llm_generate(
    request: GenerationRequest, backend: Backend
) -> Generator[None, GenerateCall | None, GenerateCall | None]:
    """Wrap every whole generation with a timer."""
    call = yield
    if call is None:  # no implementation answered: nothing to wrap
        return None
    inner: GenerateCall = call

    async def timed() -> Result:
        started = time.perf_counter()
        error: str | None = None
        try:
            return await inner()
        except BaseException as exc:  # timing is recorded for failures and cancellations too
            error = type(exc).__name__
            raise
        finally:
            _log(Timing("generate", backend.name, request.model, time.perf_counter() - started, error=error))

    return timed


# --8<-- [end:generate]


# --8<-- [start:stream]
@hookimpl(wrapper=True)
def ultra_llm_stream(
    request: GenerationRequest, backend: Backend
) -> Generator[None, StreamCall | None, StreamCall | None]:
    """Wrap every streamed generation with a timer (time to first chunk, total, chunk count)."""
    call = yield
    if call is None:
        return None
    inner: StreamCall = call

    async def timed() -> AsyncIterator[Chunk]:
        started = time.perf_counter()
        first: float | None = None
        chunks = 0
        error: str | None = None
        try:
            # aclosing: when the caller stops early, the inner stream is closed too, so the
            # backend cancels its work (the hookspec requires it of every stream wrapper).
            async with contextlib.aclosing(inner()) as stream:  # type: ignore[type-var]
                async for chunk in stream:
                    if first is None:
                        first = time.perf_counter() - started
                    chunks += 1
                    yield chunk
        except BaseException as exc:  # GeneratorExit here means the caller closed the stream early
            error = None if isinstance(exc, GeneratorExit) else type(exc).__name__
            raise
        finally:
            _log(
                Timing(
                    "stream",
                    backend.name,
                    request.model,
                    time.perf_counter() - started,
                    first_chunk_seconds=first,
                    chunks=chunks,
                    error=error,
                )
            )

    return timed


# --8<-- [end:stream]
