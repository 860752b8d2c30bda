"""A backend that counts the generations reaching it, for the cache tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from ultra_llm_mock.backend import MockBackend

from ultra_llm import Chunk
from ultra_llm.errors import GenerationError
from ultra_llm.plugin import GenerationRequest, hookimpl


class CountingBackend(MockBackend):
    """The mock, counting the generations that reach it; a prompt starting with "boom" fails."""

    name: ClassVar[str] = "counting"
    calls: ClassVar[int] = 0

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        CountingBackend.calls += 1
        if request.prompt.startswith("boom"):
            raise GenerationError("boom", backend=self.name)
        async for chunk in super().stream(request):
            yield chunk


class CountingPlugin:
    @hookimpl
    def ultra_llm_register_backends(self, register: Any) -> None:
        register("counting", CountingBackend)
