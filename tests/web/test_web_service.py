"""The web service's choice of the default backend: kept, and re-checked after a fallback only once
``RESELECT_SECONDS`` have passed on its clock (a fake one here: no waiting)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from ultra_llm.testing.clock import FakeClock
from ultra_llm.web._service import RESELECT_SECONDS, WebService


class FakeAdapter:
    def __init__(self, name: str, fell_back: bool) -> None:
        self.name = name
        self.selection = SimpleNamespace(fell_back=fell_back)
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def test_the_default_is_reselected_after_a_fallback_once_the_time_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    answers = iter([FakeAdapter("mock", True), FakeAdapter("mock", True), FakeAdapter("online", False)])
    made: list[FakeAdapter] = []

    async def create_adapter(**kwargs: Any) -> FakeAdapter:
        made.append(next(answers))
        return made[-1]

    monkeypatch.setattr("ultra_llm._factory.create_adapter", create_adapter)
    service = WebService(host=object(), config=object(), clock=clock)  # type: ignore[arg-type]

    async def run() -> None:
        first = await service.adapter()
        assert first is made[0] and first.name == "mock"
        clock.advance(RESELECT_SECONDS - 1)
        assert await service.adapter() is first and len(made) == 1, "a fallback is kept until the time is up"
        clock.advance(1)
        assert await service.adapter() is first and len(made) == 2, "then the choice is made again"
        assert made[1].closed, "the same backend again: the new adapter is closed, the first one kept"
        clock.advance(RESELECT_SECONDS)
        chosen = await service.adapter()
        assert chosen is made[2] and chosen.name == "online" and len(made) == 3
        clock.advance(1_000_000)
        assert await service.adapter() is chosen and len(made) == 3, "no fallback: the choice is kept"

    asyncio.run(run())
