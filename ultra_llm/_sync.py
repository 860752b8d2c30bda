"""Sync code's way in: ``SyncAdapter`` runs an adapter's async methods on one private loop thread.

One loop per adapter keeps pooled clients (bound to a loop) valid across sync calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._deadline import CONFIGURED

if TYPE_CHECKING:
    from ._adapter import Adapter
    from ._backend import Backend
    from ._batch import BatchItem, BatchProgressCallback
    from ._config import UltraConfig
    from ._deadline import _Configured
    from ._lifecycle import DiskUsage, RunningModel
    from ._selection import Selection
    from ._types import (
        Chunk,
        EmbeddingResult,
        GenerationRequest,
        ModelInfo,
        ProgressCallback,
        Prompt,
        Result,
    )

__all__ = ["LoopThread", "SyncAdapter"]

T = TypeVar("T")


class LoopThread:
    """A daemon thread running an event loop, started on first use and stopped by ``close()``."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="ultra-llm-sync", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result; Ctrl-C cancels it."""
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure())
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """Iterate an async iterator from sync code; stopping early closes it on the loop."""
        try:
            while True:
                try:
                    item = self.run(_next(iterator))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None and self._loop is not None and not self._loop.is_closed():
                self.run(aclose())

    def close(self) -> None:
        """Stop the loop and join its thread; further ``run`` calls start a new one."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()


class SyncAdapter:
    """An ``Adapter`` for code without an event loop: each method below runs the adapter's own to
    completion on a private loop thread (``llm.generate("hi")`` returns the text), and the streams
    are plain iterators (``for chunk in llm.stream("hi")``; breaking out cancels the backend). The
    methods and their arguments are the adapter's (``ultra_llm.Adapter``), typed the same.

    Made by ``create_adapter_sync``; ``adapter`` is the async adapter underneath. ``close()`` (or
    ``with``) closes it; every call after that raises ``AdapterClosedError`` (the adapter's own check).
    """

    def __init__(self, adapter: Adapter, loop: LoopThread) -> None:
        self.adapter = adapter
        self._loop = loop

    # -- what the adapter is ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The serving backend's name."""
        return self.adapter.name

    @property
    def model(self) -> str:
        """The adapter's model (canonical)."""
        return self.adapter.model

    @property
    def backend(self) -> Backend:
        """The serving backend."""
        return self.adapter.backend

    @property
    def selection(self) -> Selection:
        """Which backend was asked for, which serves, and why."""
        return self.adapter.selection

    @property
    def config(self) -> UltraConfig:
        """The core configuration the adapter was made with."""
        return self.adapter.config

    def get_capabilities(self) -> dict[str, Any]:
        """As ``Adapter.get_capabilities``."""
        return self.adapter.get_capabilities()

    def build_request(self, prompt: Prompt, options: dict[str, Any]) -> GenerationRequest:
        """As ``Adapter.build_request``."""
        return self.adapter.build_request(prompt, options)

    # -- calls ----------------------------------------------------------------------------------------

    def check_availability(self) -> bool:
        """As ``Adapter.check_availability``."""
        return self._loop.run(self.adapter.check_availability())

    def list_models(self) -> list[ModelInfo]:
        """As ``Adapter.list_models``."""
        return self._loop.run(self.adapter.list_models())

    def get_available_models(self) -> list[str]:
        """As ``Adapter.get_available_models``."""
        return self._loop.run(self.adapter.get_available_models())

    def complete(
        self, prompt: Prompt | GenerationRequest, *, timeout: float | _Configured | None = CONFIGURED, **options: Any
    ) -> Result:
        """As ``Adapter.complete``."""
        return self._loop.run(self.adapter.complete(prompt, timeout=timeout, **options))

    def generate(self, prompt: Prompt, *, timeout: float | _Configured | None = CONFIGURED, **options: Any) -> str:
        """As ``Adapter.generate``: the whole answer's text."""
        return self._loop.run(self.adapter.generate(prompt, timeout=timeout, **options))

    def stream(
        self, prompt: Prompt | GenerationRequest, *, timeout: float | _Configured | None = CONFIGURED, **options: Any
    ) -> Iterator[Chunk]:
        """As ``Adapter.stream``, as a plain iterator."""
        return self._loop.iterate(self.adapter.stream(prompt, timeout=timeout, **options))

    def stream_generate(
        self, prompt: Prompt, *, timeout: float | _Configured | None = CONFIGURED, **options: Any
    ) -> Iterator[str]:
        """As ``Adapter.stream_generate``, as a plain iterator."""
        return self._loop.iterate(self.adapter.stream_generate(prompt, timeout=timeout, **options))

    def generate_many(
        self,
        prompts: Iterable[Prompt],
        *,
        concurrency: int = 8,
        progress: BatchProgressCallback | None = None,
        **options: Any,
    ) -> list[BatchItem]:
        """As ``Adapter.generate_many``."""
        return self._loop.run(
            self.adapter.generate_many(prompts, concurrency=concurrency, progress=progress, **options)
        )

    def embed(
        self,
        inputs: str | Sequence[str],
        *,
        model: str | None = None,
        timeout: float | _Configured | None = CONFIGURED,
    ) -> EmbeddingResult:
        """As ``Adapter.embed``."""
        return self._loop.run(self.adapter.embed(inputs, model=model, timeout=timeout))

    def pull(
        self, model: str | None = None, progress: ProgressCallback | None = None, *, timeout: float | None = None
    ) -> None:
        """As ``Adapter.pull``."""
        self._loop.run(self.adapter.pull(model, progress, timeout=timeout))

    def remove(self, model: str) -> None:
        """As ``Adapter.remove``."""
        self._loop.run(self.adapter.remove(model))

    def running_models(self) -> list[RunningModel]:
        """As ``Adapter.running_models``."""
        return self._loop.run(self.adapter.running_models())

    def preload(self, model: str | None = None, *, timeout: float | _Configured | None = CONFIGURED) -> str:
        """As ``Adapter.preload``."""
        return self._loop.run(self.adapter.preload(model, timeout=timeout))

    def unload(self, models: Sequence[str] = (), *, all: bool = False) -> int:
        """As ``Adapter.unload``."""
        return self._loop.run(self.adapter.unload(models, all=all))

    def configure(
        self,
        model: str,
        *,
        context_size: int | None = None,
        keep_alive: str | None = None,
        think: bool | None = None,
        unload: bool = False,
    ) -> str:
        """As ``Adapter.configure``."""
        return self._loop.run(
            self.adapter.configure(model, context_size=context_size, keep_alive=keep_alive, think=think, unload=unload)
        )

    def inspect(self, model: str | None = None) -> ModelInfo:
        """As ``Adapter.inspect``."""
        return self._loop.run(self.adapter.inspect(model))

    def disk_usage(self) -> DiskUsage:
        """As ``Adapter.disk_usage``."""
        return self._loop.run(self.adapter.disk_usage())

    def run(self, awaitable: Coroutine[Any, Any, T]) -> T:
        """Run any coroutine on the adapter's loop (one that takes ``self.adapter``, say) and return its result."""
        return self._loop.run(awaitable)

    def close(self) -> None:
        """Close the adapter, then stop the private loop."""
        try:
            self._loop.run(self.adapter.aclose())
        finally:
            self._loop.close()

    def __enter__(self) -> SyncAdapter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _next(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()
