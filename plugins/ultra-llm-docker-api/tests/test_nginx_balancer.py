"""Many runners behind a real load balancer: the API backend through Debian's nginx, configured by
the documented recipe (docs/examples/nginx/ultra-llm-runners.conf), to two real llama-servers.

Whole and streamed answers pass through (streamed ones unbuffered, chunk by chunk); when one
engine is killed mid-run the requests that follow are served by the other (nginx's passive health:
``max_fails``/``fail_timeout``, ``proxy_next_upstream``), and a stream cut on the killed engine is
a typed ``StreamInterruptedError``, never a hang or a wrong answer.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from ultra_llm_docker.testing.balancer import Balancer, nginx_binary, start_balancer
from ultra_llm_docker.testing.engine.fixtures import require_engine
from ultra_llm_docker.testing.engine.launcher import EngineProcess, start_engine
from ultra_llm_docker.testing.engine.tiny_model import write_tiny_model

from ultra_llm import Adapter, create_adapter
from ultra_llm._host import PluginHost
from ultra_llm.errors import StreamInterruptedError

pytestmark = pytest.mark.engine

RECIPE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "nginx" / "ultra-llm-runners.conf"
"""The recipe `docs/load-balancer.md` documents, tested as users copy it."""
PROMPT = "hi"
LONG = {"max_tokens": 400, "temperature": 0}


def require_nginx() -> None:
    """Skip without nginx (fail where the real engine is required, as in CI, which installs it)."""
    if nginx_binary() is not None:
        return
    reason = "nginx is not installed (apt-get install nginx-light)"
    if os.environ.get("ULTRA_LLM_REQUIRE_ENGINE", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def start_pair(directory: Path) -> list[EngineProcess]:
    require_engine()
    require_nginx()
    model = write_tiny_model(directory / "tiny.gguf")
    engines: list[EngineProcess] = []
    try:
        for _ in range(2):
            engines.append(start_engine(model, log_dir=directory, parallel=2))
    except BaseException:
        for engine in engines:
            engine.stop()
        raise
    return engines


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[EngineProcess]]:
    engines = start_pair(tmp_path_factory.mktemp("balanced"))
    try:
        yield engines
    finally:
        for engine in engines:
            engine.stop()


@pytest.fixture
def balancer(pair: list[EngineProcess], tmp_path: Path) -> Iterator[Balancer]:
    started = start_balancer(RECIPE, [f"127.0.0.1:{engine.port}" for engine in pair], tmp_path)
    try:
        yield started
    finally:
        started.stop()


async def adapter_for(balancer: Balancer) -> Adapter:
    return await create_adapter(
        "ai/tiny", backend="docker-api", host=PluginHost(), settings={"url": f"{balancer.url}/v1"}, fallback="none"
    )


def processing(engine: EngineProcess) -> float:
    """llama-server's own count of requests in progress (``--metrics``)."""
    with urllib.request.urlopen(f"{engine.base_url}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("llamacpp:requests_processing"):
                return float(line.split()[-1])
    raise AssertionError("llama-server's /metrics has no requests_processing")


def test_whole_answers_pass_through_and_both_runners_serve(balancer: Balancer, pair: list[EngineProcess]) -> None:
    async def run() -> list[str]:
        async with await adapter_for(balancer) as adapter:
            return [await adapter.generate(PROMPT, max_tokens=8, temperature=0) for _ in range(6)]

    answers = asyncio.run(run())
    assert all(answers) and len(set(answers)) == 1, answers  # the same model, the same answer
    served = {address for line in balancer.upstreams() for address in line.split(", ")}
    assert served >= {f"127.0.0.1:{engine.port}" for engine in pair}, balancer.upstreams()


def test_a_stream_passes_through_unbuffered(balancer: Balancer) -> None:
    async def run() -> tuple[str, float, float, int, str]:
        async with await adapter_for(balancer) as adapter:
            started = time.perf_counter()
            first = 0.0
            parts: list[str] = []
            async for text in adapter.stream_generate(PROMPT, **LONG):
                if not parts:
                    first = time.perf_counter() - started
                parts.append(text)
            total = time.perf_counter() - started
            whole = await adapter.generate(PROMPT, max_tokens=8, temperature=0)
            return "".join(parts), first, total, len(parts), whole

    streamed, first, total, chunks, whole = asyncio.run(run())
    assert streamed and whole and chunks >= 20, (chunks, streamed)
    # Buffered by the proxy, the first chunk would come with the last; unbuffered, far before.
    assert first < total / 2, f"first chunk after {first:.3f} s of {total:.3f} s"


def test_one_engine_killed_mid_run_the_other_serves(tmp_path: Path) -> None:
    engines = start_pair(tmp_path / "engines")
    killed: list[EngineProcess] = []
    try:
        balancer = start_balancer(RECIPE, [f"127.0.0.1:{engine.port}" for engine in engines], tmp_path / "nginx")
        try:

            async def run() -> tuple[BaseException | None, list[str]]:
                async with await adapter_for(balancer) as adapter:
                    cut: BaseException | None = None
                    try:
                        async for _ in adapter.stream_generate(PROMPT, **LONG):
                            if cut is not None:
                                continue  # what the killed engine had sent before it died
                            busy = [engine for engine in engines if processing(engine) > 0]
                            if busy:
                                busy[0].kill()  # SIGKILL while it streams this answer
                                killed.append(busy[0])
                                cut = RuntimeError("the stream went on after its engine was killed")
                    except StreamInterruptedError as exc:
                        cut = exc
                    after = [await adapter.generate(PROMPT, max_tokens=8, temperature=0) for _ in range(6)]
                    return cut, after

            cut, after = asyncio.run(run())
        finally:
            balancer.stop()
    finally:
        for engine in engines:
            engine.stop()
    assert isinstance(cut, StreamInterruptedError), cut  # typed, not a hang or a truncated "answer"
    assert all(after), after  # every request after the kill answered, by the engine still alive
    (alive,) = [engine for engine in engines if engine not in killed]
    (dead,) = killed
    answered = [upstream for _, _, status, upstream in balancer.requests() if status == 200]
    assert [upstream.split(", ")[-1] for upstream in answered[-6:]] == [f"127.0.0.1:{alive.port}"] * 6, answered
    # A request nginx already wrote to the killed runner on a kept-alive connection is not passed on
    # (`proxy_next_upstream error timeout` does not replay a POST once sent): nginx answers it 502 and
    # the client's retry goes to the live runner. Any such failure names the killed runner only.
    failed = [(status, upstream) for _, _, status, upstream in balancer.requests()[-12:] if status != 200]
    assert all(upstream.split(", ")[-1] == f"127.0.0.1:{dead.port}" for _, upstream in failed), failed
