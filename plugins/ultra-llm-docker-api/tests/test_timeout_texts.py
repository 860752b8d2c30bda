"""The first-token timeout's error on every docker-api path, against scripted loopback servers: the
adapter's one wording (``GenerationTimeoutError.first_token``), naming the setting whose limit fired
and quoting what docker-api said it waited for (no token yet, a model still loading)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from ultra_llm.errors import GenerationTimeoutError
from ultra_llm.testing.adapters import adapter_over
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, send_json, sse_head

LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}


async def late_headers(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(5)


async def late_first_event(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(sse_head())
    await writer.drain()
    await asyncio.sleep(5)


async def loading(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
    await send_json(writer, 503, LOADING, server="llama.cpp")


def timed_out(backend: Any, *, stream: bool) -> GenerationTimeoutError:
    async def run() -> None:
        async with adapter_over(backend, "ai/tiny:latest") as adapter:
            if stream:
                [_ async for _ in adapter.stream("hello")]
            else:
                await adapter.complete("hello")

    with pytest.raises(GenerationTimeoutError) as caught:
        asyncio.run(run())
    return caught.value


@pytest.mark.parametrize(
    ("handler", "path", "stream", "waiting"),
    [
        pytest.param(late_headers, "", True, "{url} had sent no token", id="headers"),
        pytest.param(late_first_event, "", True, "{url} had sent no token", id="first-event"),
        pytest.param(loading, "/v1", False, "{url}/v1 was still loading the model", id="loading"),
    ],
)
def test_the_first_token_timeout_names_ultra_llm_first_token_timeout(
    make_backend: Callable[..., Any], handler: Any, path: str, stream: bool, waiting: str
) -> None:
    with ScriptedServer(handler) as server:
        error = timed_out(make_backend(server.url + path, timeout=60.0, first_token_timeout=0.4), stream=stream)
    assert error.timeout == pytest.approx(0.4)
    expected = (
        "No answer from backend 'docker-api' within the 0.4 s first-token timeout (ULTRA_LLM_FIRST_TOKEN_TIMEOUT): "
        + waiting.format(url=server.url)
        + "."
    )
    assert error.message == expected
    assert error.fix == (
        "A cold model load takes tens of seconds: raise ULTRA_LLM_FIRST_TOKEN_TIMEOUT, retry once the model is "
        "loaded, or use a smaller model."
    )


def test_a_total_timeout_shorter_than_the_first_token_one_is_the_one_named(make_backend: Callable[..., Any]) -> None:
    """ULTRA_LLM_TIMEOUT caps the first-token deadline: raising ULTRA_LLM_FIRST_TOKEN_TIMEOUT alone would not help."""
    with ScriptedServer(late_headers) as server:
        error = timed_out(make_backend(server.url, timeout=0.4, first_token_timeout=30.0), stream=True)
    assert error.timeout == pytest.approx(0.4)
    assert "0.4 s first-token timeout (ULTRA_LLM_TIMEOUT, which caps ULTRA_LLM_FIRST_TOKEN_TIMEOUT)" in error.message
    assert "raise ULTRA_LLM_TIMEOUT and ULTRA_LLM_FIRST_TOKEN_TIMEOUT" in (error.fix or "")
