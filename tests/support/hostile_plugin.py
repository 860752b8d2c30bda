"""A third-party plugin installed beside ``ultra-llm serve`` and the CLI (copied as source into a
``*.dist-info`` distribution by ``tests.core.plugins.install_distribution``): backends that misbehave
on purpose.

- ``exits``: available; ``stream`` raises ``SystemExit`` (what ``sys.exit()`` in plugin code does).
- ``hanging-check``: its availability check creates the file ``ULTRA_LLM_TEST_CHECKING`` names, then
  never answers.
- ``slow-ops``: available; ``pull`` and ``remove`` await forever.
- ``echo``: available; answers with the prompt, so a model's escape sequences reach the terminal.
- ``surrogate``: available; answers with text holding a lone surrogate (a runner's ``"\\udcff"``).
- ``endpointed``: available at the endpoint ``ULTRA_LLM_TEST_ENDPOINT`` names; answers with it.
- with ``ULTRA_LLM_TEST_MUTATE=1``, a middleware that changes the request in place.
- the command ``hostile-crash``: raises a plain ``RuntimeError`` (a bug in a plugin's own command,
  which runs outside the plugin's error boundary), its message holding an escape sequence.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from pydantic import BaseModel, ConfigDict

from ultra_llm import Chunk, ModelInfo
from ultra_llm.plugin import Availability, Backend, GenerationRequest, Middleware, hookimpl


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    seed: int | None = None


class _Available(Backend):
    default_model = "any"
    options_model = Options

    async def check_availability(self) -> Availability:
        return Availability(True, "up")

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("any", self.name)]


class ExitingBackend(_Available):
    name = "exits"

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        raise SystemExit(3)
        yield Chunk("")  # makes this an async generator


class HangingCheckBackend(_Available):
    name = "hanging-check"

    async def check_availability(self) -> Availability:
        open(os.environ["ULTRA_LLM_TEST_CHECKING"], "w").close()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("never")


class SlowOpsBackend(_Available):
    name = "slow-ops"

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("ok")

    async def pull(self, model, progress=None):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    async def remove(self, model):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()


class EchoBackend(_Available):
    name = "echo"

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk(request.prompt)


class SurrogateBackend(_Available):
    name = "surrogate"

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("a\udcffb")
        yield Chunk("c", finish_reason="stop")


class EndpointedBackend(_Available):
    name = "endpointed"

    def served_from(self) -> str | None:
        return os.environ["ULTRA_LLM_TEST_ENDPOINT"]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk(f"answered by {self.served_from()}")


class Mutating(Middleware):
    async def generate(self, request, call_next):  # type: ignore[no-untyped-def]
        request.options_dict["seed"] = 99  # in place, after an outer layer may have keyed on it
        return await call_next(request)


@hookimpl
def ultra_llm_middleware(backend):  # type: ignore[no-untyped-def]
    return Mutating() if os.environ.get("ULTRA_LLM_TEST_MUTATE") == "1" else None


@hookimpl
def ultra_llm_register_backends(register):  # type: ignore[no-untyped-def]
    for backend in (
        ExitingBackend,
        HangingCheckBackend,
        SlowOpsBackend,
        EchoBackend,
        SurrogateBackend,
        EndpointedBackend,
    ):
        register(backend.name, backend, summary="misbehaves on purpose (tests)")


@hookimpl
def ultra_llm_register_commands(cli):  # type: ignore[no-untyped-def]
    import click

    @click.command("hostile-crash")
    def crash() -> None:
        raise RuntimeError("a plugin bug \x1b]0;pwned\x07 here")

    cli.add_command(crash)
