"""Pytest plugin: session-scoped real-engine fixtures (load with ``pytest_plugins``).

- ``real_engine``: writes the tiny GGUF model into a session temp dir, starts one llama.cpp
  ``llama-server`` (the build Docker Model Runner ships, see ``build_llama_server``; ``--embeddings``:
  the model is mean-pooled, so that one process serves chat completions and embeddings) and yields a
  ``RealEngine`` with ``.url`` (the OpenAI base, ``http://127.0.0.1:PORT/v1``) and ``.model``
  (``ai/tiny``).
- ``dmr_runner``: a ``DMRProxy`` over it, yielding a ``DMRRunner`` with ``.url`` (the Docker Model
  Runner style base, ``http://127.0.0.1:PORT``), ``.model`` and ``.proxy`` (its state, ``inject``).

Both skip with a clear reason only when the pinned ``llama-server`` is not built in the engine cache
(the reason names the command that builds it); set ``ULTRA_LLM_REQUIRE_ENGINE=1`` (CI) to turn that
skip into a failure. Nothing starts at import:
the server starts when a test first asks for the fixture, and stops (its process group, reaped)
at the end of the session.

- ``make_memory_runner``: no engine needed. A factory, ``make_memory_runner(models=("ai/tiny",
  "ai/other"), *, slots=1, load_time=0.0, delay=0.0, reply=...) -> MemoryRunner``: a canned engine
  behind a ``DMRProxy`` with the runner's memory (``memory_runner.runner_with_memory``); what each call
  started is stopped when the test ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .dmr_proxy import DMRProxy
from .launcher import EngineProcess, engine_missing, start_engine
from .memory_runner import MemoryRunner, runner_with_memory

__all__ = [
    "DMRRunner",
    "MemoryRunner",
    "RealEngine",
    "dmr_runner",
    "make_memory_runner",
    "real_engine",
    "require_engine",
]


@dataclass(frozen=True)
class RealEngine:
    """The running engine: ``url`` = ``http://127.0.0.1:PORT/v1``, ``model`` = its alias."""

    url: str
    base_url: str
    model: str
    process: EngineProcess


@dataclass(frozen=True)
class DMRRunner:
    """The proxy: ``url`` = ``http://127.0.0.1:PORT`` laid out like Docker Model Runner."""

    url: str
    model: str
    proxy: DMRProxy
    engine: RealEngine


def require_engine() -> None:
    """Skip the test (fail it under ``ULTRA_LLM_REQUIRE_ENGINE=1``) when ``llama-server`` is not built."""
    reason = engine_missing()
    if reason is None:
        return
    if os.environ.get("ULTRA_LLM_REQUIRE_ENGINE", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealEngine]:
    """A real ``llama-server`` serving the tiny model (chat and embeddings) on loopback."""
    require_engine()
    from .tiny_model import write_tiny_model

    directory = tmp_path_factory.mktemp("real-engine")
    model_path = write_tiny_model(directory / "tiny.gguf")
    process = start_engine(model_path, log_dir=directory, alias="ai/tiny", embedding=True)
    try:
        yield RealEngine(url=process.url, base_url=process.base_url, model=process.model, process=process)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def dmr_runner(real_engine: RealEngine) -> Iterator[DMRRunner]:
    """Docker Model Runner's HTTP layout over ``real_engine`` (a loopback proxy in a thread)."""
    proxy = DMRProxy(real_engine.base_url, engine_model=real_engine.model).start()
    try:
        yield DMRRunner(url=proxy.url, model=real_engine.model, proxy=proxy, engine=real_engine)
    finally:
        proxy.stop()


@pytest.fixture
def make_memory_runner() -> Iterator[Callable[..., MemoryRunner]]:
    """Start a runner double with memory over a canned engine (``runner_with_memory``'s arguments);
    each one started is stopped, proxy then engine, when the test ends."""
    with contextlib.ExitStack() as stack:

        def make(*args: Any, **kwargs: Any) -> MemoryRunner:
            return stack.enter_context(runner_with_memory(*args, **kwargs))

        yield make
