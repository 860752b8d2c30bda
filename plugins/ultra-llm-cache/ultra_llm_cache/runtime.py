"""The cache at work: the configured store, the cache middleware, and the counters.

Imported when an adapter is made with caching on. The store for the current variables is built
once and reused (a memory cache lives as long as the process). A store that fails (a locked or
unwritable SQLite file) never fails a generation: the error is logged at WARNING on
``ultra_llm.cache``, counted, and the request goes to the backend.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ultra_llm.plugin import (
    Backend,
    Chunk,
    GenerateNext,
    GenerationRequest,
    Middleware,
    Result,
    StreamNext,
    closing_stream,
)

from .settings import CacheSettings
from .store import CachedValue, Kind, MemoryStore, SQLiteStore, Store, is_damaged, is_deterministic, request_key

__all__ = ["CacheMiddleware", "Counters", "clear", "current_store", "reset", "stats", "store_for"]

logger = logging.getLogger("ultra_llm.cache")
T = TypeVar("T")


@dataclass
class Counters:
    """This process's lookups: ``hits``, ``misses``, ``skipped`` (not deterministic), ``stored``, ``errors``."""

    hits: int = 0
    misses: int = 0
    skipped: int = 0
    stored: int = 0
    errors: int = 0


_lock = threading.Lock()
_stores: dict[CacheSettings, tuple[str, Store | None]] = {}
_counters = Counters()


def _count(field: str) -> None:
    with _lock:
        setattr(_counters, field, getattr(_counters, field) + 1)


def current_store() -> Store | None:
    """The store the environment asks for now (``None`` when off); ``ConfigurationError`` for
    invalid variables."""
    return store_for(CacheSettings.load())


def store_for(settings: CacheSettings) -> Store | None:
    """The store ``settings`` ask for (``None`` when off), built once per distinct settings."""
    with _lock:
        found = _stores.get(settings)
    if found is not None:
        return found[1]
    store: Store | None = None
    if settings.mode == "memory":
        store = MemoryStore(settings.max_entries, settings.ttl)
    elif settings.mode == "sqlite":
        store = SQLiteStore(settings.sqlite_path, settings.max_entries, settings.ttl)
    with _lock:
        found = _stores.setdefault(settings, (settings.mode, store))
    if found[1] is not store and store is not None:
        store.close()  # another thread built the same store first
    return found[1]


async def _run(store: Store, func: Callable[[], T]) -> T:
    """Run a store operation: inline for memory, on a worker thread for SQLite (it may wait on a lock)."""
    if isinstance(store, MemoryStore):
        return func()
    import asyncio

    return await asyncio.to_thread(func)


async def _lookup(store: Store, key: str) -> CachedValue | None:
    try:
        value = await _run(store, lambda: store.get(key))
    except Exception as exc:  # the cache must never fail a generation
        _count("errors")
        logger.warning("cache lookup failed, asking the backend: %s: %s", type(exc).__name__, exc)
        return None
    _count("hits" if value is not None else "misses")
    return value


async def _save(store: Store, key: str, kind: Kind, value: CachedValue) -> None:
    try:
        await _run(store, lambda: store.put(key, kind, value))
    except Exception as exc:  # the cache must never fail a generation
        _count("errors")
        logger.warning("cache store failed, answer not cached: %s: %s", type(exc).__name__, exc)
        return
    _count("stored")


class CacheMiddleware(Middleware):
    """Answers deterministic requests from ``store``, or asks the backend and stores the answer;
    errors and streams cut short are never stored."""

    def __init__(self, store: Store, backend: Backend | None = None) -> None:
        self.store = store
        self.backend = backend
        """The backend behind this chain: its ``endpoint()`` is part of every key."""

    def _key(self, request: GenerationRequest, kind: Kind) -> str | None:
        if not is_deterministic(request):
            _count("skipped")
            return None
        return request_key(request, kind, None if self.backend is None else self.backend.served_from())

    async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
        """The cached ``Result``, or ``call_next``'s, stored."""
        key = self._key(request, "generate")
        if key is None:
            return await call_next(request)
        hit = await _lookup(self.store, key)
        if isinstance(hit, Result):
            logger.debug("cache hit %s (%s, %s)", key[:12], request.backend, request.model)
            return hit
        result = await call_next(request)
        if isinstance(result, Result):
            await _save(self.store, key, "generate", result)
        return result

    async def stream(self, request: GenerationRequest, call_next: StreamNext) -> AsyncIterator[Chunk]:
        """The cached chunks replayed, or ``call_next``'s recorded and stored once complete."""
        key = self._key(request, "stream")
        if key is None:
            async with closing_stream(call_next(request)) as chunks:
                async for chunk in chunks:
                    yield chunk
            return
        hit = await _lookup(self.store, key)
        if isinstance(hit, tuple):
            logger.debug("cache hit %s (%s, %s, stream)", key[:12], request.backend, request.model)
            for chunk in hit:
                yield chunk
            return
        recorded: list[Chunk] = []
        async with closing_stream(call_next(request)) as chunks:
            async for chunk in chunks:
                recorded.append(chunk)
                yield chunk
        # reached only when the inner stream ended normally and the consumer read it all
        await _save(self.store, key, "stream", tuple(recorded))


def stats() -> dict[str, Any]:
    """See ``ultra_llm_cache.stats``."""
    store = current_store()
    mode = "off"
    with _lock:
        process = dict(_counters.__dict__)
        for found_mode, found_store in _stores.values():
            if found_store is store:
                mode = found_mode
    figures: dict[str, Any] | None = None
    if store is not None:
        try:
            figures = store.stats()
        except Exception as exc:  # an unreadable file: say so rather than fail
            figures = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "mode": mode,
        "path": str(store.path) if isinstance(store, SQLiteStore) else None,
        "process": process,
        "store": figures,
    }


def clear() -> int:
    """See ``ultra_llm_cache.clear``."""
    store = current_store()
    if store is None:
        return 0
    try:
        return store.clear()
    except Exception as exc:
        if not (isinstance(store, SQLiteStore) and is_damaged(exc)):
            raise
        logger.warning("cache file %s was damaged (%s); rebuilt it empty", store.path, exc)
        store.rebuild()
        return 0


def reset() -> None:
    """Close and forget every store and zero this process's counters (for tests and benchmarks)."""
    global _counters
    with _lock:
        stores = [store for _, store in _stores.values() if store is not None]
        _stores.clear()
        _counters = Counters()
    for store in stores:
        store.close()
