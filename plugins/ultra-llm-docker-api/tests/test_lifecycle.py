"""Model lifecycle on the docker-api backend: ps, preload, unload, configure, inspect, df.

Against real HTTP servers on 127.0.0.1: the runner-layout proxy (its lifecycle routes answer from its
own state, the runner's rules cited in ``ultra_llm_docker.testing.engine.dmr_proxy``; no engine is
needed for them), a scripted server for a connection the server drops, and the real engine for what only it can
say (the context window from llama-server itself, ps after a real generation).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from ultra_llm_docker.testing.engine.dmr_proxy import DMRProxy
from ultra_llm_docker.testing.engine.fixtures import DMRRunner, RealEngine
from ultra_llm_docker.testing.engine.launcher import start_engine

from ultra_llm._lifecycle import ModelSettings
from ultra_llm.errors import (
    GenerationError,
    InvalidModelNameError,
    InvalidOptionsError,
    ModelLoadedError,
    ModelNotFoundError,
    StreamInterruptedError,
    UnsupportedOperationError,
)
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, send_text

MODEL = "ai/tiny:latest"
ENGINE_CONTEXT = inspect.signature(start_engine).parameters["n_ctx"].default
"""The context each request gets on the real engine (``-c`` is this times the slots)."""


@pytest.fixture
def proxy() -> Iterator[DMRProxy]:
    """The runner's layout with no engine behind it (port 9 on loopback: nothing listens)."""
    started = DMRProxy("http://127.0.0.1:9", engine_model="ai/tiny").start()
    try:
        yield started
    finally:
        started.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def closing(backend: Any, call: Callable[[], Awaitable[Any]]) -> Any:
    """``call()``, then ``backend.aclose()`` on the same event loop however the call ends: the pooled
    connections belong to that loop, and left open they outlive it (a ResourceWarning later)."""

    async def go() -> Any:
        try:
            return await call()
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_configure_is_refused_while_busy_then_applies_and_preloads(
    make_backend: Callable[..., Any], proxy: DMRProxy
) -> None:
    backend = make_backend(proxy.url)

    async def scenario() -> None:
        assert await backend.running_models() == []
        await backend.configure(MODEL, ModelSettings(context_size=1024, keep_alive="10m"))
        loaded = await backend.running_models()  # the runner preloads after every configure
        assert [(m.name, m.engine, m.mode) for m in loaded] == [(MODEL, "llama.cpp", "completion")]
        assert loaded[0].keep_alive == "10m0s" and loaded[0].until in ("9 minutes from now", "10 minutes from now")
        assert (await backend.inspect(MODEL)).context_window == 1024  # the configured size wins
        proxy.hold(MODEL)  # another client's request in flight
        with pytest.raises(ModelLoadedError) as caught:
            await backend.configure(MODEL, ModelSettings(context_size=2048))
        assert "ultra-llm unload ai/tiny:latest" in caught.value.fix
        assert "runner already active" in caught.value.message
        assert (await backend.inspect(MODEL)).context_window == 1024  # unchanged
        assert await backend.unload([MODEL]) == 0  # the runner keeps a busy model loaded
        proxy.hold(MODEL, busy=False)
        assert await backend.unload([MODEL]) == 1
        assert await backend.running_models() == []
        await backend.configure(MODEL, ModelSettings(context_size=2048))
        assert (await backend.inspect(MODEL)).context_window == 2048
        assert [m.name for m in await backend.running_models()] == [MODEL]

    closing(backend, scenario)
    assert proxy.configs[MODEL] == {"context-size": 2048}


def test_an_idle_loaded_model_is_reconfigured_by_the_runner_itself(
    make_backend: Callable[..., Any], proxy: DMRProxy
) -> None:
    """loader.go:722-726: configure evicts an idle runner; only a busy one is a 409."""
    backend = make_backend(proxy.url)

    async def scenario() -> None:
        await backend.preload(MODEL)
        assert [m.name for m in await backend.running_models()] == [MODEL]
        await backend.configure(MODEL, ModelSettings(context_size=512))
        assert (await backend.inspect(MODEL)).context_window == 512

    closing(backend, scenario)
    assert ("POST", "/engines/v1/chat/completions") in proxy.requests


def test_unload_all_counts_and_ps_empties(make_backend: Callable[..., Any], proxy: DMRProxy) -> None:
    proxy.add_local("ai/other")
    backend = make_backend(proxy.url)

    async def scenario() -> None:
        await backend.preload(MODEL)
        await backend.preload("ai/other:latest")
        assert len(await backend.running_models()) == 2
        await backend.configure(MODEL, ModelSettings(context_size=512))
        assert await backend.unload(all=True) == 2
        assert await backend.unload(all=True) == 0
        assert proxy.configs == {}  # --all forgets every configuration too (loader.go:312-314)
        assert (await backend.inspect(MODEL)).context_window == 2048
        assert await backend.running_models() == []

    closing(backend, scenario)


def test_inspect_df_and_the_models_context_column(make_backend: Callable[..., Any], proxy: DMRProxy) -> None:
    backend = make_backend(proxy.url)

    async def scenario() -> None:
        info = await backend.inspect(MODEL)
        assert info.context_window == 2048 and info.details["architecture"] == "llama"
        assert info.tools is None and info.vision is None  # the runner does not say
        listed = {m.name: m for m in await backend.list_models()}
        assert listed[MODEL].context_window == 2048
        usage = await backend.disk_usage()
        assert usage.models_bytes and usage.engine_bytes == proxy.engine_disk_usage
        with pytest.raises(ModelNotFoundError):
            await backend.inspect("ai/absent:latest")
        with pytest.raises(ModelNotFoundError):  # the runner's 404 for a model it does not have; no pull
            await backend.preload("ai/absent:latest")

    closing(backend, scenario)


def test_configure_of_a_model_not_there_is_not_found(make_backend: Callable[..., Any], proxy: DMRProxy) -> None:
    """The runner takes any name (scheduler.go:386-396); the backend checks first, so a typo is an error."""
    backend = make_backend(proxy.url)
    with pytest.raises(ModelNotFoundError):
        closing(backend, lambda: backend.configure("ai/typo:latest", ModelSettings(context_size=1024)))
    assert not any(path.endswith("/_configure") and method == "POST" for method, path in proxy.requests)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"keep_alive": "5 minutes"}, InvalidOptionsError),
        ({"keep_alive": "5"}, InvalidOptionsError),
        ({"context_size": -5}, InvalidOptionsError),
        ({"context_size": 0}, InvalidOptionsError),
        ({"context_size": 2**31}, InvalidOptionsError),
        ({}, InvalidOptionsError),
    ],
)
def test_bad_settings_are_refused_before_any_request(settings: dict[str, Any], error: type[Exception]) -> None:
    """The range and "something to set" are the kernel's (``ModelSettings``); the keep-alive grammar is
    the runner's, checked by the backend's ``check_settings`` (a classmethod: no instance, no I/O)."""
    from ultra_llm_docker_api.backend import DockerAPIBackend

    with pytest.raises(error):
        DockerAPIBackend.check_settings(ModelSettings(**settings))


def test_a_model_name_starting_with_a_dash_never_reaches_the_runner(
    make_backend: Callable[..., Any], proxy: DMRProxy
) -> None:
    backend = make_backend(proxy.url)
    for call in (
        lambda: backend.preload("-x"),
        lambda: backend.unload(["--all"]),
        lambda: backend.inspect("-rf"),
    ):
        with pytest.raises(InvalidModelNameError):
            run(call())
    assert proxy.requests == []


def test_a_server_dropping_the_connection_is_typed(make_backend: Callable[..., Any]) -> None:
    async def drop(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        writer.close()

    with ScriptedServer(drop) as server:
        backend = make_backend(server.url, retries=1)
        with pytest.raises(StreamInterruptedError):
            closing(backend, backend.running_models)


def test_a_runner_answering_500_is_typed(make_backend: Callable[..., Any]) -> None:
    async def fail(request: SeenRequest, writer: asyncio.StreamWriter) -> None:
        await send_text(writer, 500, "Failed to get models disk usage: boom\n")

    with ScriptedServer(fail) as server:
        backend = make_backend(server.url, retries=1)
        with pytest.raises(GenerationError) as caught:
            closing(backend, backend.disk_usage)
    assert "500" in caught.value.message and "boom" in caught.value.output


def test_a_plain_server_has_no_lifecycle(make_backend: Callable[..., Any], real_engine: RealEngine) -> None:
    """Bare llama-server: ps/preload/unload/configure/df are UnsupportedOperationError naming what to do;
    inspect and the listing carry the context window llama-server reports, as it was started (-c)."""
    backend = make_backend(real_engine.url)

    async def scenario() -> None:
        listed = await backend.list_models()
        assert [m.context_window for m in listed] == [ENGINE_CONTEXT]
        assert listed[0].vision is False and listed[0].tools is not None
        info = await backend.inspect(real_engine.model)
        assert info.context_window == ENGINE_CONTEXT
        for call in (
            backend.running_models(),
            backend.preload(real_engine.model),
            backend.unload(all=True),
            backend.configure(real_engine.model, ModelSettings(context_size=64)),
            backend.disk_usage(),
        ):
            with pytest.raises(UnsupportedOperationError) as caught:
                await call
            assert "llama-server" in caught.value.fix and "-c N" in caught.value.fix

    closing(backend, scenario)


def test_ps_after_a_real_generation_shows_the_model(make_backend: Callable[..., Any], dmr_runner: DMRRunner) -> None:
    from ultra_llm._types import GenerationRequest, to_messages

    backend = make_backend(dmr_runner.url)
    dmr_runner.proxy.loaded.clear()

    async def scenario() -> None:
        request = GenerationRequest(model=MODEL, messages=to_messages("Hi"), options=None, backend=backend.name)
        await backend.generate(request)
        loaded = await backend.running_models()
        assert [(m.name, m.in_use, m.engine) for m in loaded] == [(MODEL, False, "llama.cpp")]
        assert loaded[0].until in ("4 minutes from now", "5 minutes from now")  # the default keep-alive

    closing(backend, scenario)
