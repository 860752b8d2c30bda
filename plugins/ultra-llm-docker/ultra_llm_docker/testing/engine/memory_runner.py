"""A Docker Model Runner double with the runner's memory, over a canned engine: no llama-server needed.

``runner_with_memory(models, slots=1, load_time=0.2)`` starts a ``CannedEngine`` and a ``DMRProxy``
with those local models, at most ``slots`` of them resident and each load taking ``load_time``
seconds, and stops exactly those two when the ``with`` block ends. It yields a ``MemoryRunner``:
``url`` (the runner-style base, ``http://127.0.0.1:PORT``), ``models`` (their tags), ``proxy``
(the counters ``loads``, ``load_counts``, ``evictions``, ``requests``; ``hold``) and ``engine``
(``delay``, ``requests``, ``max_active``). The pytest fixture ``make_memory_runner``
(``ultra_llm_docker.testing.engine.fixtures``) calls it and stops what it started at the test's end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .canned_engine import CannedEngine
from .dmr_proxy import DMRProxy, normalize

__all__ = ["MemoryRunner", "runner_with_memory"]


@dataclass(frozen=True)
class MemoryRunner:
    """The started double: ``url`` = ``http://127.0.0.1:PORT`` in the runner's layout."""

    url: str
    models: tuple[str, ...]
    proxy: DMRProxy
    engine: CannedEngine


@contextlib.contextmanager
def runner_with_memory(
    models: Sequence[str] = ("ai/tiny", "ai/other"),
    *,
    slots: int | None = 1,
    load_time: float = 0.0,
    delay: float = 0.0,
    reply: str = "Hello from the canned engine.",
) -> Iterator[MemoryRunner]:
    """A canned engine (answering after ``delay`` seconds) behind a proxy whose local models are
    ``models`` (the first is the engine's alias; every one is relayed to it), ``slots`` of them
    resident at most (None: no limit), each load taking ``load_time`` seconds."""
    if not models:
        raise ValueError("runner_with_memory needs at least one model")
    engine = CannedEngine(model=models[0], reply=reply, delay=delay).start()
    try:
        proxy = DMRProxy(engine.base_url, engine_model=models[0], slots=slots, load_time=load_time)
        for name in models[1:]:
            proxy.add_local(name)
        proxy.start()
        try:
            yield MemoryRunner(url=proxy.url, models=tuple(normalize(m) for m in models), proxy=proxy, engine=engine)
        finally:
            proxy.stop()
    finally:
        engine.stop()
