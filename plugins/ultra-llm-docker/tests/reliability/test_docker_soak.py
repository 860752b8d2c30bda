"""Soak and leak tests of the Docker backends: many whole and streamed calls per backend, with early
closes, cancellations and timeouts mixed in; afterwards no new child process, no zombie, descriptors
and memory flat. The mix, the snapshots and the checks are ``ultra_llm.testing.leaks``, as the kernel suite's
soak of the mock uses them.

Bounded by default (a few seconds per backend). The long run is one command:

    ULTRA_LLM_SOAK_CALLS=5000 python -m pytest -m soak plugins/ultra-llm-docker/tests/reliability/test_docker_soak.py -s

``ULTRA_LLM_SOAK_CALLS`` is the number of calls for the API backend; the docker-cli backend (one
process per call) runs a tenth of it, at least 100. Tolerances: descriptors exactly flat between the
half-way point and the end (+2 for lazily opened ones); RSS growth over the second half at most 16 MiB.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from ultra_llm_docker.testing.double.fixtures import DockerDouble

from ultra_llm import create_adapter
from ultra_llm._adapter import Adapter
from ultra_llm._host import PluginHost
from ultra_llm.testing.leaks import check, measured
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, sse_head
from ultra_llm.testing.waiting import until

pytestmark = pytest.mark.soak

CALLS = int(os.environ.get("ULTRA_LLM_SOAK_CALLS", "600"))


def test_soak_docker_cli(docker_double: DockerDouble) -> None:
    calls = max(100, CALLS // 10)
    host = PluginHost()

    async def make() -> Adapter:
        return await create_adapter("smollm2", host=host, backend="docker-cli")

    async def make_slow() -> Adapter:
        return await create_adapter("smollm2", host=host, backend="docker-cli", first_token_timeout=0.001)

    before, middle, after, outcomes, heap = measured(make, calls, make_slow=make_slow)
    check("docker-cli", before, middle, after, heap)
    assert outcomes.get("timeout", 0) == sum(1 for i in range(calls) if i % 5 == 4), outcomes
    assert outcomes.get("ok", 0) == calls - outcomes["timeout"], outcomes


def test_soak_docker_api() -> None:
    pytest.importorskip("httpx2")
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}

    async def handler(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if req.method == "GET":
            await send_json(writer, 200, [])
        elif req.headers.get("accept") == "text/event-stream":
            event = b'data: {"choices": [{"delta": {"content": "ok "}, "finish_reason": null}]}\n\n'
            writer.write(sse_head() + chunked(event) + chunked(event) + chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
        elif b"slow-model" in req.body:
            await asyncio.sleep(1.0)
        else:
            await send_json(writer, 200, answer)

    host = PluginHost()
    with ScriptedServer(handler) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_RUNNER_URL", server.url)
        patch.setenv("ULTRA_LLM_DOCKER_API_RETRIES", "1")

        async def make() -> Adapter:  # the default deadlines: a loaded machine times out none of these
            return await create_adapter("ai/tiny", host=host, backend="docker-api")

        async def make_slow() -> Adapter:  # the adapter owns the deadline; the slow model outlasts it
            return await create_adapter("ai/tiny", host=host, backend="docker-api", timeout=0.05)

        def settle() -> None:  # the slow handler sleeps on after its client timed out
            assert until(lambda: server.open_connections == 0), "the scripted server's handlers never finished"

        before, middle, after, outcomes, heap = measured(
            make, CALLS, timeout_model="ai/slow-model", make_slow=make_slow, settle=settle
        )
    check("docker-api", before, middle, after, heap)
    assert outcomes.get("timeout", 0) == sum(1 for i in range(CALLS) if i % 5 == 4), outcomes
