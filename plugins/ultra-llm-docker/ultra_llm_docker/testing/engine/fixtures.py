"""Pytest plugin: session-scoped real-engine fixtures (load with ``pytest_plugins``).

- ``real_engine``: writes the tiny GGUF model into a session temp dir, starts one llama.cpp
  ``llama-server`` (the build Docker Model Runner ships, see ``build_llama_server``; ``--embeddings``:
  the model is mean-pooled, so that one process serves chat completions and embeddings) and yields a
  ``RealEngine`` with ``.url`` (the OpenAI base, ``http://127.0.0.1:PORT/v1``) and ``.model``
  (``ai/tiny``).
- ``dmr_runner``: a ``DMRProxy`` over it, yielding a ``DMRRunner`` with ``.url`` (the Docker Model
  Runner style base, ``http://127.0.0.1:PORT``), ``.model`` and ``.proxy`` (its state, ``inject``).
- ``router_engine``: a second ``llama-server``, in router mode (``--models-dir``, ``--models-max 1``)
  over two tiny models with different weights, ``tiny-a`` and ``tiny-b``; it yields a ``RouterEngine``
  with ``.url``, ``.base_url``, ``.models`` (``("tiny-a", "tiny-b")``), ``.models_max`` and ``.process``,
  and helpers that read and reset which model is loaded (``statuses``, ``unload_all``). The router loads
  a model on its first request and unloads the least recently used one to make room: the tests share
  it, so a test that cares which model is loaded says so first (``unload_all``).

All three skip with a clear reason only when the pinned ``llama-server`` is not built in the engine cache
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
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .dmr_proxy import DMRProxy
from .launcher import EngineProcess, RouterProcess, engine_missing, start_engine, start_router
from .memory_runner import MemoryRunner, runner_with_memory

__all__ = [
    "ROUTER_MODELS",
    "DMRRunner",
    "MemoryRunner",
    "RealEngine",
    "RouterEngine",
    "dmr_runner",
    "make_memory_runner",
    "real_engine",
    "require_engine",
    "router_engine",
    "write_router_models",
]

#: The models ``router_engine`` serves, by the names the router gives them.
ROUTER_MODELS = ("tiny-a", "tiny-b")


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


@dataclass(frozen=True)
class RouterEngine:
    """``llama-server`` in router mode: ``url`` = ``http://127.0.0.1:PORT/v1``; ``models`` its model
    names (``ROUTER_MODELS``), at most ``models_max`` of them loaded at once.

    Two things its clients meet: the router closes the connection after every answer it relays from
    a model's child (streamed or not; its own routes such as ``/v1/models`` keep it open), so a
    client reusing that connection can get "Server disconnected without sending a response"; and a
    model whose child was killed (evicted with a request in flight, past the router's 10 s stop
    timeout) lists as ``unloaded`` with ``"failed": true`` until it loads again."""

    url: str
    base_url: str
    models: tuple[str, ...]
    models_max: int
    process: RouterProcess

    def listing(self) -> dict[str, Any]:
        """The router's ``GET /v1/models``, decoded."""
        with urllib.request.urlopen(f"{self.url}/models", timeout=30) as response:
            listing: dict[str, Any] = json.loads(response.read())
        return listing

    def statuses(self) -> dict[str, str]:
        """Each model's ``status.value`` (``loaded``, ``unloaded``, ``loading``, ...)."""
        return {entry["id"]: entry["status"]["value"] for entry in self.listing()["data"]}

    def unload_all(self, timeout: float = 30.0) -> None:
        """Unload every model that is not ``unloaded`` (``POST /models/unload``) and wait until the
        listing says so for all of them."""
        deadline = time.monotonic() + timeout
        while True:
            busy = [name for name, status in self.statuses().items() if status != "unloaded"]
            if not busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"still not unloaded after {timeout}s: {self.statuses()}")
            for name in busy:
                request = urllib.request.Request(
                    f"{self.base_url}/models/unload",
                    data=json.dumps({"model": name}).encode(),
                    headers={"Content-Type": "application/json"},
                )
                try:
                    urllib.request.urlopen(request, timeout=30).close()
                except urllib.error.HTTPError as exc:  # 400 "model is not running": it just ended
                    exc.close()
            time.sleep(0.05)


def write_router_models(directory: os.PathLike[str] | str) -> tuple[str, ...]:
    """Write ``router_engine``'s models into ``directory``: ``tiny-a.gguf`` (a file directly in the
    directory: named by its file name without ``.gguf``) and ``tiny-b/weights.gguf`` (a subdirectory:
    named by the subdirectory), with different weights; returns their names, ``ROUTER_MODELS``."""
    from .tiny_model import SEED, write_tiny_model

    root = Path(directory)
    write_tiny_model(root / "tiny-a.gguf")
    write_tiny_model(root / "tiny-b" / "weights.gguf", seed=SEED + 1)
    return ROUTER_MODELS


@pytest.fixture(scope="session")
def router_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterEngine]:
    """A real ``llama-server`` in router mode over ``tiny-a`` and ``tiny-b`` with ``--models-max 1``.

    Its children (one ``llama-server`` per loaded model) share its process group; stopping it at the
    end of the session ends them all (``RouterProcess.stop``)."""
    require_engine()
    directory = tmp_path_factory.mktemp("router-engine")
    models_dir = directory / "models"
    write_router_models(models_dir)
    process = start_router(models_dir, log_dir=directory, models_max=1)
    try:
        yield RouterEngine(
            url=process.url,
            base_url=process.base_url,
            models=process.models,
            models_max=process.models_max,
            process=process,
        )
    finally:
        process.stop()
