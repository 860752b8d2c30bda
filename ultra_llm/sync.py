"""Sync code's way in: ``SyncAdapter`` runs an adapter's async methods on one private loop thread.

One loop per adapter keeps pooled clients (bound to a loop) valid across sync calls.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .adapter import Adapter

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
    """An ``Adapter`` for code without an event loop: every async method of the adapter, called
    here, runs to completion (``llm.generate("hi")`` returns the text) and every async iterator
    becomes a plain one (``for chunk in llm.stream("hi")``; breaking out cancels the backend).

    Made by ``create_adapter_sync``; ``adapter`` is the async adapter underneath, other attributes
    (``model``, ``name``, ``get_capabilities()``) are its own. ``close()`` (or ``with``) closes it.
    """

    def __init__(self, adapter: Adapter, loop: LoopThread) -> None:
        self.adapter = adapter
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.adapter, name)
        if inspect.isasyncgenfunction(attribute):
            return self._iterating(attribute)
        if inspect.iscoroutinefunction(attribute):
            return self._running(attribute)
        return attribute

    def _running(self, method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
        def run(*args: Any, **kwargs: Any) -> T:
            return self._loop.run(method(*args, **kwargs))

        return run

    def _iterating(self, method: Callable[..., AsyncIterator[T]]) -> Callable[..., Iterator[T]]:
        def iterate(*args: Any, **kwargs: Any) -> Iterator[T]:
            return self._loop.iterate(method(*args, **kwargs))

        return iterate

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
