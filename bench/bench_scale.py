"""Scale (issue 7): a cache hit against the miss, and a 256-prompt batch at concurrency 16.

``cache``: the mock backend with a per-token delay (5 ms a token, 32 tokens: a ~160 ms answer, a
fast local model's pace) is the miss; each miss has a fresh seed, so a fresh key. Limit: a hit
(memory, SQLite, streamed SQLite) takes at most 1/100 of the miss.

``batch``: 256 prompts at concurrency 16 on the mock (2 ms a token, 8 tokens each). Limits: no
prompt fails; the wall time is at most 1.5x the ideal (one prompt's latency x 256/16); the peak
traced memory of the concurrent batch is at most 2x that of answering the same prompts one by
one (both keep all 256 results, so the concurrency itself must cost little). The process's peak
RSS growth over the batch is reported beside it.
"""

from __future__ import annotations

import os
import resource
import tempfile
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

from ultra_llm import BatchItem, PluginHost, SyncAdapter, create_adapter_sync

from .runner import Measurement, case, measure

PROMPTS = 256
CONCURRENCY = 16


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block, restoring what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def mock_adapter(host: PluginHost | None = None) -> SyncAdapter:
    """A sync adapter on the mock's echo model (the answer is the prompt, word by word)."""
    return create_adapter_sync("mock/echo", backend="mock", host=host or PluginHost())


def cache_host() -> PluginHost:
    """A host with the cache plugin, registered by hand if its distribution is not installed."""
    host = PluginHost()
    host.load()
    if "cache" not in host.records or host.records["cache"].status != "loaded":
        from ultra_llm_cache import plugin

        host.register(plugin, name="cache")
    return host


def _consume(adapter: SyncAdapter, prompt: str, seed: int) -> int:
    """Read a whole stream on the adapter's own loop (no thread hop per chunk, unlike ``adapter.stream``)."""

    async def read() -> int:
        return len([chunk async for chunk in adapter.adapter.stream(prompt, seed=seed)])

    return adapter.run(read())


def _hit_and_miss(mode: str, path: str, prompt: str) -> list[Measurement]:
    from ultra_llm_cache import runtime

    runtime.reset()
    with environment(ULTRA_LLM_CACHE=mode, ULTRA_LLM_CACHE_PATH=path, ULTRA_LLM_MOCK_DELAY="0.005"):
        adapter = mock_adapter(cache_host())
        try:
            seeds = iter(range(1_000_000))
            miss = measure(lambda: adapter.generate(prompt, seed=next(seeds)), repeat=5)
            hit = measure(lambda: adapter.generate(prompt, seed=-1), repeat=51, warmup=2)
            stream_miss = measure(lambda: _consume(adapter, prompt, next(seeds)), repeat=5)
            stream_hit = measure(lambda: _consume(adapter, prompt, -1), repeat=51, warmup=2)
            counts = runtime.stats()["process"]
            if counts["errors"]:
                raise RuntimeError(f"the {mode} cache failed: {counts}")
        finally:
            adapter.close()
            runtime.reset()
    return [
        Measurement("cache", f"hit ({mode})", hit, "miss (mock, 32 tokens x 5 ms)", miss, limit=0.01),
        Measurement("cache", f"streamed hit ({mode})", stream_hit, "streamed miss", stream_miss, limit=0.01),
    ]


@case("cache")
def cache_hit_vs_miss() -> list[Measurement]:
    prompt = " ".join(f"word{i}" for i in range(32))
    with tempfile.TemporaryDirectory() as tmp:
        return [m for mode in ("memory", "sqlite") for m in _hit_and_miss(mode, os.path.join(tmp, "c.sqlite3"), prompt)]


def _prompts(count: int) -> list[str]:
    return [f"prompt {i} asks for seven more words" for i in range(count)]


def _run_batch(adapter: SyncAdapter, prompts: list[str]) -> list[BatchItem]:
    items: list[BatchItem] = adapter.generate_many(prompts, concurrency=CONCURRENCY)
    return items


def _transient_kb(adapter: SyncAdapter, prompts: list[str]) -> tuple[float, float]:
    """(peak traced memory beyond what the batch keeps, what it keeps: its results) in kB."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        items = _run_batch(adapter, prompts)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if not all(item.ok for item in items):
        raise RuntimeError("a prompt failed in the memory run")
    kept = current - before
    return (peak - before - kept) / 1024, kept / 1024


@case("batch")
def batch_256_at_16() -> list[Measurement]:
    with environment(ULTRA_LLM_MOCK_DELAY="0.002"):
        adapter = mock_adapter()
        try:
            prompts = _prompts(PROMPTS)
            single = measure(lambda: adapter.complete(prompts[0]), repeat=9)
            items: list[BatchItem] = []

            def run_batch() -> None:
                items[:] = _run_batch(adapter, prompts)

            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            wall = measure(run_batch, repeat=3)
            rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
            failed = sum(1 for item in items if not item.ok)
            out_of_order = sum(1 for item, prompt in zip(items, prompts, strict=True) if item.text != prompt)
            transient, kept = _transient_kb(adapter, prompts)
            transient_4x, kept_4x = _transient_kb(adapter, _prompts(4 * PROMPTS))
        finally:
            adapter.close()
    ideal = single * PROMPTS / CONCURRENCY
    return [
        Measurement(
            "batch", f"{PROMPTS} prompts @{CONCURRENCY}: wall", wall, "ideal: 1 prompt x 256/16", ideal, limit=1.5
        ),
        Measurement(
            "batch", "failed or misplaced prompts", failed + out_of_order, "prompts", PROMPTS, unit="", limit=0.0
        ),
        Measurement(
            "batch",
            "in-flight memory, 1024 prompts",
            transient_4x,
            "in-flight memory, 256",
            transient,
            unit="kB",
            limit=1.5,
        ),
        Measurement("batch", "results kept, 1024 prompts", kept_4x, "results kept, 256", kept, unit="kB"),
        Measurement(
            "batch", "peak RSS growth (ru_maxrss)", rss_growth / 1024, "RSS before", rss_before / 1024, unit="MB"
        ),
    ]
