"""Leak checks for a backend: this process's children, zombies, descriptors and memory, and a soak.

``snapshot()`` reads ``/proc`` (Linux): children (zombies included), unreaped ones, open descriptors
and RSS. ``measured(make, calls)`` drives adapters from ``make`` through a mix of calls (whole,
streamed, closed early, cancelled, timed out on ``make_slow``): a warm-up, then two halves, with a
snapshot before, half-way and after; ``check`` asserts that no child outlived the calls, none is a
zombie, and descriptors, RSS and (with ``heap=True``) the Python heap stayed flat over the second
half, within ``FD_SLACK``, ``RSS_SLACK`` and ``HEAP_SLACK``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GenerationTimeoutError, UltraLLMError

if TYPE_CHECKING:
    from .._adapter import Adapter

__all__ = [
    "FD_SLACK",
    "HEAP_SLACK",
    "RSS_SLACK",
    "ProcessSnapshot",
    "check",
    "child_pids",
    "measured",
    "open_fds",
    "rss_bytes",
    "snapshot",
    "soak",
    "zombie_children",
]

FD_SLACK = 2
"""Descriptors a backend may open lazily in the second half of a soak."""
RSS_SLACK = 16 * 1024 * 1024
"""RSS growth allowed over the second half of a soak."""
HEAP_SLACK = 2 * 1024 * 1024
"""Python heap growth (tracemalloc) allowed over the second half of a soak."""


def _stat_fields(pid: str) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first, then ppid ...)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def child_pids(parent: int | None = None) -> list[int]:
    """PIDs whose parent is ``parent`` (default: this process), zombies included."""
    me = str(os.getpid() if parent is None else parent)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and fields[1] == me:
                found.append(int(entry))
    return sorted(found)


def zombie_children(parent: int | None = None) -> list[int]:
    """Children of ``parent`` (default: this process) that exited and were never reaped."""
    zombies = []
    for pid in child_pids(parent):
        fields = _stat_fields(str(pid))
        if fields is not None and fields[0] == "Z":
            zombies.append(pid)
    return zombies


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """This process's resident set size in bytes (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass(frozen=True)
class ProcessSnapshot:
    """Children, zombies, descriptors and RSS at one moment."""

    children: tuple[int, ...]
    zombies: tuple[int, ...]
    fds: int
    rss: int


def snapshot() -> ProcessSnapshot:
    """The current ``ProcessSnapshot`` of this process."""
    return ProcessSnapshot(tuple(child_pids()), tuple(zombie_children()), open_fds(), rss_bytes())


async def one_call(adapter: Adapter, index: int, *, timeout_model: str | None, slow: Adapter | None) -> str:
    """Call ``index`` of the mix: whole, streamed, closed early, cancelled, or (on ``slow``) timed out."""
    try:
        return await _one_call(adapter, index, timeout_model=timeout_model, slow=slow)
    except GenerationTimeoutError:
        return "timeout"


async def _one_call(adapter: Adapter, index: int, *, timeout_model: str | None, slow: Adapter | None) -> str:
    kind = index % 5
    prompt = f"soak call {index} alpha beta gamma"
    if kind == 0:
        await adapter.generate(prompt)
    elif kind == 1:
        async with contextlib.aclosing(adapter.stream_generate(prompt)) as texts:
            async for _ in texts:
                pass
    elif kind == 2:
        async with contextlib.aclosing(adapter.stream_generate(prompt)) as texts:
            async for _ in texts:
                break
    elif kind == 3:
        task = asyncio.ensure_future(adapter.generate(prompt))
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            assert task.cancelled()
        except GenerationTimeoutError:
            pass  # a deadline shorter than the first step (the timeout soaks) fired before the cancel
    else:
        try:
            options: dict[str, Any] = {"model": timeout_model} if timeout_model else {}
            await (slow or adapter).generate(prompt, **options)
        except GenerationTimeoutError:
            return "timeout"
        except UltraLLMError:
            return "error"
    return "ok"


async def soak(
    adapter: Adapter, calls: int, *, timeout_model: str | None = None, slow: Adapter | None = None
) -> dict[str, int]:
    """``calls`` calls of the mix on ``adapter`` (every fifth on ``slow``, with ``timeout_model``);
    how many ended each way (``ok``, ``timeout``, ``error``)."""
    outcomes: dict[str, int] = {}
    for index in range(calls):
        outcome = await one_call(adapter, index, timeout_model=timeout_model, slow=slow)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def measured(
    make: Callable[[], Awaitable[Adapter]],
    calls: int,
    *,
    heap: bool = False,
    timeout_model: str | None = None,
    make_slow: Callable[[], Awaitable[Adapter]] | None = None,
    settle: Callable[[], None] = lambda: None,
) -> tuple[ProcessSnapshot, ProcessSnapshot, ProcessSnapshot, dict[str, int], int]:
    """Warm up, then two halves; snapshots before, half-way and after; outcomes; heap growth (bytes).

    ``settle`` runs before each snapshot: an in-process test server waits there until its own
    handlers have finished, so their sockets are not counted as the client's."""

    async def run(count: int) -> dict[str, int]:
        adapter = await make()
        slow = await make_slow() if make_slow is not None else None
        try:
            return await soak(adapter, count, timeout_model=timeout_model, slow=slow)
        finally:
            await adapter.aclose()
            if slow is not None:
                await slow.aclose()

    asyncio.run(run(10))
    settle()
    gc.collect()
    before = snapshot()
    outcomes = asyncio.run(run(calls // 2))
    settle()
    gc.collect()
    middle = snapshot()
    if heap:
        tracemalloc.start()
    heap_start = tracemalloc.get_traced_memory()[0] if heap else 0
    more = asyncio.run(run(calls - calls // 2))
    gc.collect()
    heap_growth = tracemalloc.get_traced_memory()[0] - heap_start if heap else 0
    if heap:
        tracemalloc.stop()
    settle()
    after = snapshot()
    for key, value in more.items():
        outcomes[key] = outcomes.get(key, 0) + value
    return before, middle, after, outcomes, heap_growth


def check(name: str, before: ProcessSnapshot, middle: ProcessSnapshot, after: ProcessSnapshot, heap: int) -> None:
    """Print the figures of soak ``name``; assert nothing leaked (see the module's docstring)."""
    print(
        f"\n[soak {name}] children {len(before.children)}->{len(after.children)}, zombies {len(after.zombies)}, "
        f"fds {before.fds}->{middle.fds}->{after.fds}, rss {before.rss / 2**20:.1f}->{middle.rss / 2**20:.1f}"
        f"->{after.rss / 2**20:.1f} MiB, heap growth {heap / 1024:.0f} KiB"
    )
    assert set(after.children) <= set(before.children), "a child process outlived the calls"
    assert after.zombies == (), "an exited child was never reaped"
    assert after.fds <= middle.fds + FD_SLACK
    assert after.rss - middle.rss <= RSS_SLACK
    assert heap <= HEAP_SLACK
