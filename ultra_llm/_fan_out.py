"""Prompts on several models at once, scheduled around model loads: the work behind ``fan_out``,
``stream_fan_out`` and ``generate_many(models=...)``.

A server holds few models at a time (a few slots, and memory usually allows fewer); each change of
model is a load of seconds to minutes. So the work is not taken in the order it comes:

* **groups**: the models are grouped by the server that will answer them (a backend that is a
  ``Placement`` says; otherwise all share one), loaded models first. Groups run side by side.
* **within a group**: a model's work is kept together, and at most ``held`` models
  (``ULTRA_LLM_MODELS_HELD``) are open at once; the next opens when one is done. Opening a model while
  another still runs, the scheduler preloads it (``LoadedModels.preload``) so its load overlaps the
  other's answers. With ``held=1`` nothing is preloaded: loading it would unload the one running.
* **workers**: at most ``concurrency`` generations are in flight, taking work from the groups in turn.

Results keep input order. A model that is not there or whose servers are down fails its own
entries only (the ones not started fail at once, with its error); ``model_timeout`` bounds each
model's share of the work from its first start. An ``OverloadedError`` (a server refusing for load
after the backend's retries) puts the entry back after a pause and lowers the concurrency: it slows
the fan-out down, and fails the entry only after ``OVERLOAD_RETRIES`` such pauses. Cancelling the
caller cancels everything in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._batch import BatchItem, BatchProgress, BatchProgressCallback, _as_error
from ._types import GenerationRequest
from .errors import (
    BackendUnavailableError,
    GenerationTimeoutError,
    InvalidOptionsError,
    ModelNotFoundError,
    OverloadedError,
    UltraLLMError,
)

if TYPE_CHECKING:
    from ._adapter import Adapter
    from ._types import Chunk, Prompt

__all__ = ["OVERLOAD_PAUSE", "OVERLOAD_RETRIES", "FanOutEvent", "Work", "run_work", "stream_work"]

log = logging.getLogger("ultra_llm")

OVERLOAD_RETRIES = 3
"""How many times an entry refused for load is put back before its error is its answer."""
OVERLOAD_PAUSE = 1.0
"""Seconds an entry refused for load waits before it is tried again (doubling each time)."""


@dataclass(frozen=True)
class Work:
    """One entry: a prompt for one model; ``index`` its place in the results."""

    index: int
    prompt: Prompt | GenerationRequest
    model: str


@dataclass(frozen=True)
class FanOutEvent:
    """One event of ``stream_fan_out``, labelled by its model: a ``chunk`` of its answer, its
    ``error`` (its last event then), or ``done`` (its answer is complete)."""

    index: int
    """The model's place in the ``models`` given."""
    model: str
    chunk: Chunk | None = None
    error: UltraLLMError | None = None
    done: bool = False


@dataclass
class _Model:
    """One model's share of the work and what has happened to it."""

    name: str
    pending: deque[Work]
    running: int = 0
    opened: bool = False
    started_at: float | None = None
    """The loop's time when its first entry started (``model_timeout`` counts from it)."""
    failed: UltraLLMError | None = None

    @property
    def finished(self) -> bool:
        return not self.pending and not self.running


@dataclass
class _Group:
    """The models one server answers, in the order they run; ``open`` ones may start work."""

    models: list[_Model]
    held: int
    open: list[_Model] = field(default_factory=list)

    def refresh(self, preload: Callable[[str], None]) -> None:
        """Close finished models; open the next ones up to ``held``, preloading those opened while
        another still runs (its load then overlaps that one's answers)."""
        self.open = [m for m in self.open if not m.finished]
        while len(self.open) < self.held:
            waiting = next((m for m in self.models if not m.opened), None)
            if waiting is None:
                return
            if self.open and self.held > 1:
                preload(waiting.name)
            waiting.opened = True
            self.open.append(waiting)

    def take(self) -> tuple[_Model, Work] | None:
        """The next entry of the open models, the first opened first."""
        for model in self.open:
            if model.pending:
                return model, model.pending.popleft()
        return None


def _fails_the_model(error: UltraLLMError) -> bool:
    """Whether ``error`` is the model's, not the prompt's: its other entries would fail the same way."""
    return isinstance(error, (ModelNotFoundError, BackendUnavailableError)) and not isinstance(error, OverloadedError)


async def _groups(adapter: Adapter, work: Sequence[Work], held: int) -> list[_Group]:
    """The work by server (``Placement``), each group's models in their order, loaded ones first."""
    from ._capabilities import Placement

    names = list(dict.fromkeys(item.model for item in work))
    placed: list[list[str]] = [names]
    if isinstance(adapter.backend, Placement) and len(names) > 1:
        try:
            found = await adapter.backend.placement(names)
        except UltraLLMError as exc:  # the order given then: slower, never wrong
            log.info("the backend could not say where each model is (%s); scheduling them as given", exc.message)
        else:
            covered = [name for group in found for name in group]
            if sorted(covered) == sorted(names):
                placed = [list(group) for group in found if group]
    by_model: dict[str, deque[Work]] = {name: deque() for name in names}
    for item in work:
        by_model[item.model].append(item)
    return [_Group([_Model(name, by_model[name]) for name in group], held) for group in placed]


async def stream_work(
    adapter: Adapter,
    work: Sequence[Work],
    *,
    concurrency: int,
    held: int,
    model_timeout: float | None = None,
    options: dict[str, Any] | None = None,
) -> AsyncIterator[FanOutEvent]:
    """Each entry's answer as it streams, labelled: ``FanOutEvent`` chunks, then ``done`` or ``error``."""
    queue: asyncio.Queue[FanOutEvent | None] = asyncio.Queue()
    task = asyncio.ensure_future(
        run_work(
            adapter,
            work,
            concurrency=concurrency,
            held=held,
            model_timeout=model_timeout,
            options=options,
            events=queue,
        )
    )
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while True:
            event = await queue.get()
            if event is None:
                break
            yield event
        await task  # a failure of the scheduler itself (a progress callback ...) surfaces here
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def run_work(
    adapter: Adapter,
    work: Sequence[Work],
    *,
    concurrency: int,
    held: int,
    model_timeout: float | None = None,
    progress: BatchProgressCallback | None = None,
    options: dict[str, Any] | None = None,
    events: asyncio.Queue[FanOutEvent | None] | None = None,
) -> list[BatchItem]:
    """Every entry's ``BatchItem`` (model set), in ``index`` order, scheduled as the module says;
    with ``events``, each entry streamed and its ``FanOutEvent``s put there as they come."""
    options = options or {}
    if concurrency < 1 or held < 1:
        raise InvalidOptionsError(
            f"concurrency and models held must be at least 1, got {concurrency} and {held}.",
            fix="Pass concurrency=1 or more; set ULTRA_LLM_MODELS_HELD to 1 or more.",
        )
    total = len(work)
    results: dict[int, BatchItem] = {}
    groups = await _groups(adapter, work, held)
    wake = asyncio.Event()
    allowed = concurrency
    in_flight = 0
    failed = 0
    turn = 0
    preloads: set[asyncio.Task[Any]] = set()
    if progress is not None:
        progress(BatchProgress(0, total, 0))

    def preload(model: str) -> None:
        task = asyncio.ensure_future(_preload(adapter, model))
        preloads.add(task)
        task.add_done_callback(preloads.discard)

    def finish(item: BatchItem) -> None:
        nonlocal failed
        results[item.index] = item
        failed += item.error is not None
        if progress is not None:
            progress(BatchProgress(len(results), total, failed, item))

    def next_entry() -> tuple[_Model, Work] | None:
        """The next entry, taking the groups in turn; models that failed answer their entries at once."""
        nonlocal turn
        for shift in range(len(groups)):
            group = groups[(turn + shift) % len(groups)]
            group.refresh(preload)
            for model in group.open:
                while model.failed is not None and model.pending:
                    entry = model.pending.popleft()
                    finish(BatchItem(entry.index, entry.prompt, error=model.failed, model=entry.model))
            group.refresh(preload)
            taken = group.take()
            if taken is not None:
                turn = (turn + shift + 1) % len(groups)
                return taken
        return None

    async def run_one(model: _Model, entry: Work) -> None:
        nonlocal allowed
        loop = asyncio.get_running_loop()
        if model.started_at is None:
            model.started_at = loop.time()
        call: dict[str, Any] = {} if isinstance(entry.prompt, GenerationRequest) else dict(options, model=entry.model)
        if model_timeout is not None:
            left = model_timeout - (loop.time() - model.started_at)
            if left <= 0:
                spent = GenerationTimeoutError(
                    f"Model '{entry.model}' used its {model_timeout:g} s of this fan-out before this entry started.",
                    timeout=model_timeout,
                    fix="Raise model_timeout, or give that model fewer prompts.",
                    backend=adapter.name,
                )
                finish(BatchItem(entry.index, entry.prompt, error=spent, model=entry.model))
                return
            given = call.get("timeout")
            call["timeout"] = left if not isinstance(given, (int, float)) else min(left, given)
        pauses = 0
        start = time.perf_counter()
        error: UltraLLMError
        while True:
            try:
                if events is None:
                    result = await adapter.complete(entry.prompt, **call)
                else:
                    result = None
                    async for chunk in adapter.stream(entry.prompt, **call):
                        events.put_nowait(FanOutEvent(entry.index, entry.model, chunk=chunk))
                    events.put_nowait(FanOutEvent(entry.index, entry.model, done=True))
            except OverloadedError as exc:
                if pauses < OVERLOAD_RETRIES:
                    pauses += 1
                    allowed = max(1, allowed - 1)  # the server is full: fewer at once from now on
                    log.info("%s is overloaded; entry %d waits and is tried again", entry.model, entry.index)
                    await asyncio.sleep(OVERLOAD_PAUSE * 2 ** (pauses - 1))
                    continue
                error = _as_error(exc, adapter)
            except Exception as exc:  # every entry's failure is kept, typed, in its item
                error = _as_error(exc, adapter)
            else:
                finish(
                    BatchItem(
                        entry.index, entry.prompt, result=result, seconds=time.perf_counter() - start, model=entry.model
                    )
                )
                return
            if _fails_the_model(error) and model.failed is None:
                model.failed = error
            if events is not None:
                events.put_nowait(FanOutEvent(entry.index, entry.model, error=error))
            finish(
                BatchItem(
                    entry.index, entry.prompt, error=error, seconds=time.perf_counter() - start, model=entry.model
                )
            )
            return

    async def worker() -> None:
        nonlocal in_flight
        while True:
            while in_flight >= allowed:
                wake.clear()
                await wake.wait()
            taken = next_entry()
            if taken is None:
                if not any(m.running for g in groups for m in g.models):
                    wake.set()
                    return
                wake.clear()
                await wake.wait()  # a model still running may open the next one when it ends
                continue
            model, entry = taken
            model.running += 1
            in_flight += 1
            try:
                await run_one(model, entry)
            finally:
                model.running -= 1
                in_flight -= 1
                wake.set()

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, max(total, 1)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in [*workers, *preloads]:
            task.cancel()
        await asyncio.gather(*workers, *preloads, return_exceptions=True)
    return [results[index] for index in sorted(results)]


async def _preload(adapter: Adapter, model: str) -> None:
    """Load ``model`` ahead of its work, if the backend can; a failure is left to its entries to say."""
    from ._capabilities import LoadedModels

    if not isinstance(adapter.backend, LoadedModels):
        return
    try:
        await adapter.preload(model)
    except UltraLLMError as exc:
        log.info("preloading %s ahead of its work failed (%s); its entries will say", model, exc.message)
