"""Soak and leak tests of the kernel on the mock: many whole and streamed calls, with early closes,
cancellations and timeouts mixed in; afterwards no new child process, no zombie, descriptors and
memory flat, by ``ultra_llm.testing.leaks`` (a plugin's backends are soaked the same way in its own
suite).

Bounded by default (a few seconds). The long run is one command:

    ULTRA_LLM_SOAK_CALLS=5000 python -m pytest -m soak tests/reliability/test_soak.py -s

``ULTRA_LLM_SOAK_CALLS`` is the number of calls on the mock (its timeouts run makes a twentieth of
it, at least 50). Tolerances: descriptors exactly flat between the half-way point and the end (+2 for
lazily opened ones); RSS growth over the second half at most 16 MiB; Python heap (tracemalloc) growth
at most 2 MiB.
"""

from __future__ import annotations

import os

import pytest

from ultra_llm import create_adapter
from ultra_llm._adapter import Adapter
from ultra_llm._host import PluginHost
from ultra_llm.testing.leaks import check, measured

pytestmark = pytest.mark.soak

CALLS = int(os.environ.get("ULTRA_LLM_SOAK_CALLS", "600"))


def test_soak_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_LATENCY", "0")
    host = PluginHost()
    before, middle, after, outcomes, heap = measured(
        lambda: create_adapter("mock/echo", host=host, backend="mock"), CALLS, heap=True
    )
    check("mock", before, middle, after, heap)
    assert outcomes.get("ok", 0) >= CALLS * 0.8


def test_soak_mock_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "hang")
    host = PluginHost()
    calls = max(50, CALLS // 20)

    async def make() -> Adapter:
        return await create_adapter("mock/echo", host=host, backend="mock", timeout=0.01)

    before, middle, after, outcomes, heap = measured(make, calls)
    check("mock-timeouts", before, middle, after, heap)
    cancelled = sum(1 for i in range(calls) if i % 5 in (3,))
    assert outcomes.get("timeout", 0) == calls - cancelled, outcomes
