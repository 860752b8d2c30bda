"""Batch generation: many prompts through one adapter with bounded concurrency.

``generate_many(adapter, prompts, concurrency=N)`` answers every prompt with ``Adapter.complete``
(so every wrapper plugin — cache, metrics — sees each one), never more than ``N`` at a time, and
returns one ``BatchItem`` per prompt **in input order**. A prompt that fails does not fail the
batch: its typed error is kept in its item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidOptionsError, UltraLLMError

if TYPE_CHECKING:
    from ._adapter import Adapter
    from ._types import GenerationRequest, Prompt, Result

__all__ = [
    "DEFAULT_CONCURRENCY",
    "BatchItem",
    "BatchProgress",
    "BatchProgressCallback",
    "generate_many",
]

DEFAULT_CONCURRENCY = 8
"""Generations in flight at once when ``concurrency`` is not given."""


@dataclass(frozen=True)
class BatchItem:
    """The outcome of one prompt of a batch: exactly one of ``result`` and ``error`` is set.

    ``index`` is the prompt's position in the input; ``seconds`` the wall time of its generation
    (from when it started, not counting the time it waited for a free slot).
    """

    index: int
    prompt: Prompt | GenerationRequest
    result: Result | None = None
    error: UltraLLMError | None = None
    seconds: float = 0.0
    model: str | None = None
    """The model the entry asked for, when the work named several (``fan_out``, ``models=``)."""

    @property
    def ok(self) -> bool:
        """True when the prompt was answered."""
        return self.error is None

    @property
    def text(self) -> str | None:
        """The answer's text, or ``None`` when the prompt failed."""
        return None if self.result is None else self.result.text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: index, ok, result (``Result.to_dict``) or error (``UltraLLMError.to_dict``)."""
        return {
            "index": self.index,
            "model": self.model,
            "ok": self.ok,
            "result": None if self.result is None else self.result.to_dict(),
            "error": None if self.error is None else self.error.to_dict(),
            "seconds": round(self.seconds, 6),
        }


@dataclass(frozen=True)
class BatchProgress:
    """A progress event: ``done`` of ``total`` prompts finished, ``failed`` of them with an error.

    ``item`` is the prompt that just finished (``None`` for the first event, sent before any work).
    """

    done: int
    total: int
    failed: int
    item: BatchItem | None = None


BatchProgressCallback = Callable[[BatchProgress], None]


def _as_error(exc: Exception, adapter: Adapter) -> UltraLLMError:
    """A typed error for ``exc``: itself when typed, else a root ``UltraLLMError`` caused by it."""
    if isinstance(exc, UltraLLMError):
        return exc
    error = UltraLLMError(
        f"The prompt failed with an untyped {type(exc).__name__}: {exc}",
        fix="Check the prompt's type (a string or a list of role/content messages).",
        backend=adapter.name,
    )
    error.__cause__ = exc
    return error


async def generate_many(
    adapter: Adapter,
    prompts: Iterable[Prompt | GenerationRequest],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: BatchProgressCallback | None = None,
    **options: Any,
) -> list[BatchItem]:
    """Answer every prompt with ``adapter.complete(prompt, **options)``; one ``BatchItem`` each, in input order.
    A prompt may be a request ``adapter.build_request`` made (then without ``options``): it is not
    validated again.

    Contract:

    * at most ``concurrency`` generations are in flight at any moment (``concurrency`` workers
      take the next prompt as one finishes; no task exists for a prompt not yet started, so
      memory beyond the results does not grow with the batch size);
    * an ``Exception`` from one prompt is caught and kept in its item as a typed
      ``UltraLLMError`` (an untyped one is wrapped, its ``__cause__`` the original): the batch
      itself never raises for a prompt's failure. Each prompt has the adapter's own timeout,
      counted from when it starts;
    * ``progress`` (called on the event loop) gets one ``BatchProgress`` with ``done=0`` before
      any work, then one per finished prompt, in completion order, the last with
      ``done == total``. An exception from ``progress`` cancels the batch and propagates;
    * cancelling the caller cancels every prompt in flight.

    Raises ``InvalidOptionsError`` when ``concurrency`` is below 1 or ``prompts`` is a bare string
    (pass ``[prompt]``).
    """
    import asyncio

    if isinstance(prompts, str):
        raise InvalidOptionsError(
            "generate_many takes a list of prompts, got a single string.", fix="Pass [prompt], or use generate()."
        )
    if concurrency < 1:
        raise InvalidOptionsError(
            f"concurrency must be at least 1, got {concurrency}.", fix="Pass concurrency=1 or more."
        )
    items: list[Prompt | GenerationRequest] = list(prompts)
    total = len(items)
    results: list[BatchItem | None] = [None] * total
    failed = 0
    done = 0
    next_index = 0
    if progress is not None:
        progress(BatchProgress(0, total, 0))

    async def run_one(index: int) -> BatchItem:
        prompt = items[index]
        start = time.perf_counter()
        try:
            result = await adapter.complete(prompt, **options)
        except Exception as exc:  # every prompt's failure is kept, typed, in its item
            return BatchItem(index, prompt, error=_as_error(exc, adapter), seconds=time.perf_counter() - start)
        return BatchItem(index, prompt, result=result, seconds=time.perf_counter() - start)

    async def worker() -> None:
        nonlocal next_index, done, failed
        while next_index < total:
            index = next_index
            next_index += 1
            item = await run_one(index)
            results[index] = item
            done += 1
            if item.error is not None:
                failed += 1
            if progress is not None:
                progress(BatchProgress(done, total, failed, item))

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, total))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
    return [item for item in results if item is not None]
