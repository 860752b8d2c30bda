"""A third-party plugin the ``hostile_env`` fixture installs (as ``ultra_llm_hostile``) beside a child
``ultra-llm``: never imported by the tests themselves.

- the backend ``endpointed``: available at the endpoint ``ULTRA_LLM_TEST_ENDPOINT`` names; answers
  with it (so the cache must key an answer by the runner that gave it);
- with ``ULTRA_LLM_TEST_MUTATE=1``, a middleware that changes the request in place (which the
  request's immutability must refuse).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from pydantic import BaseModel, ConfigDict

from ultra_llm import Chunk, ModelInfo
from ultra_llm.plugin import Availability, Backend, GenerationRequest, Middleware, hookimpl


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    seed: int | None = None


class EndpointedBackend(Backend):
    name = "endpointed"
    default_model = "any"
    options_model = Options

    async def check_availability(self) -> Availability:
        return Availability(True, "up")

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("any", self.name)]

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
    register(EndpointedBackend.name, EndpointedBackend, summary="misbehaves on purpose (tests)")
