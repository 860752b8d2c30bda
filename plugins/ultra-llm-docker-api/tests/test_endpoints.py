"""Several endpoints behind one docker-api backend (issue 7 item 1), against real loopback servers.

The healthy endpoints are Docker Model Runner proxies over the session's real llama.cpp engine
(two proxies, one engine); the failing ones are scripted servers (503 always, a drop before the
first event, a drop after it, a stalled first byte). One proxy is stopped mid-run and started
again on the same port: requests keep succeeding, it is ejected, retried after its cooldown and
reinstated. Every server a test starts is stopped by its own handle.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from ultra_llm_docker.testing.engine.dmr_proxy import DMRProxy
from ultra_llm_docker.testing.engine.fixtures import DMRRunner
from ultra_llm_docker.testing.engine.launcher import free_port

from ultra_llm._types import Chunk, GenerationRequest, to_messages
from ultra_llm.errors import BackendUnavailableError, ConfigurationError, GenerationTimeoutError, StreamInterruptedError
from ultra_llm.testing.adapters import adapter_over
from ultra_llm.testing.clock import FakeClock
from ultra_llm.testing.scripted_server import ScriptedServer, SeenRequest, chunked, send_json, send_text, sse_head
from ultra_llm.testing.waiting import until_async

FAST = {"max_tokens": 4, "temperature": 0}


def request(model: str, stream: bool = False) -> GenerationRequest:
    return GenerationRequest(model, to_messages("hello there"), None, "docker-api", dict(FAST))


async def collect(backend: Any, model: str) -> str:
    chunks: list[Chunk] = [c async for c in backend.stream(request(model, True))]
    return "".join(c.text for c in chunks)


async def _streamed(adapter: Any) -> str:
    return "".join([piece async for piece in adapter.stream_generate("hello")])


def states(backend: Any) -> dict[str, dict[str, Any]]:
    return {s["url"]: s for s in backend.endpoint_states()}


@pytest.fixture
def second_proxy(dmr_runner: DMRRunner) -> Iterator[DMRProxy]:
    """A second runner proxy over the same real engine; stopped by its handle."""
    proxy = DMRProxy(dmr_runner.engine.base_url, engine_model=dmr_runner.model).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def runner_like(handler: Any, model: str = "ai/tiny:latest") -> Any:
    """``handler`` for inference, behind the runner's answers to the reads that tell which models it has
    and has loaded (``GET /models``, ``GET /engines/ps``: ``model`` in both, as the healthy proxy), so the
    pool sees both endpoints equally placed for the model and the test is about the failure alone."""

    async def answer(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
        if req.method == "GET" and req.path == "/models":
            await send_json(writer, 200, [{"id": "sha256:" + "0" * 64, "tags": [model], "created": 0, "config": {}}])
        elif req.method == "GET" and req.path == "/engines/ps":
            await send_json(writer, 200, [{"backend_name": "llama.cpp", "model_name": model, "mode": "completion"}])
        else:
            await handler(req, writer)

    return answer


def loaded_on(model: str, *proxies: DMRProxy) -> None:
    """``model`` loaded and idle on each proxy, as after another client's request: the pool, which
    sends a model where it is loaded first, sees the proxies as equals."""
    for proxy in proxies:
        proxy.hold(model)
        proxy.hold(model, busy=False)


def posts(requests: list[Any]) -> list[Any]:
    """The inference requests among those a server saw (not the pool's reads of its models)."""
    return [r for r in requests if (r.method if isinstance(r, SeenRequest) else r[0]) == "POST"]


async def answer_503(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
    await send_text(writer, 503, "service unavailable\n")


# -- settings ------------------------------------------------------------------------------------


def test_a_single_url_resolves_as_before_and_several_are_split() -> None:
    from ultra_llm_docker_api.settings import DockerAPISettings, resolve, resolve_all

    single = DockerAPISettings.load(url="http://localhost:12434")
    assert resolve_all(single) == [resolve(single)]
    assert resolve(single).api("/chat/completions") == "http://localhost:12434/engines/v1/chat/completions"
    both = resolve_all(DockerAPISettings.load(url=" http://a:12434 , http://b:12434/ ,"))
    assert [ep.display_url for ep in both] == ["http://a:12434", "http://b:12434/"]
    assert [ep.api("/models") for ep in both] == [
        "http://a:12434/engines/v1/models",
        "http://b:12434/engines/v1/models",
    ]
    for bad in ("http://a:1,http://a:1", "http://a:1,http://b:2/v1", " , "):
        with pytest.raises(ConfigurationError):
            resolve_all(DockerAPISettings.load(url=bad))


def test_building_a_pool_opens_nothing(make_backend: Callable[..., Any]) -> None:
    backend = make_backend(f"http://127.0.0.1:{free_port()},http://127.0.0.1:{free_port()}")
    assert backend.pool.several and not backend.pool.health_running
    assert not any(m.transport.started for m in backend.pool.members)
    assert [s["in_flight"] for s in backend.endpoint_states()] == [0, 0]
    assert backend.diagnostics() == {"endpoints": backend.endpoint_states()}


def test_ejection_lasts_the_cooldown_on_the_pools_clock(make_backend: Callable[..., Any]) -> None:
    clock, wall = FakeClock(), FakeClock(start=1_700_000_000.0)
    a, b = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    backend = make_backend(f"{a},{b}", eject_failures=2, eject_cooldown=10, clock=clock, wall_clock=wall)
    pool = backend.pool
    first, second = pool.members
    pool.fail(first, BackendUnavailableError("refused"))
    assert not states(backend)[a]["ejected"], "one failure of two"
    pool.fail(first, BackendUnavailableError("refused"))
    ejected = states(backend)[a]
    assert ejected["ejected"] and not ejected["healthy"] and ejected["ejections"] == 1
    assert ejected["ejected_for_s"] == 10 and ejected["ejected_until"] == "2023-11-14T22:13:30Z"
    assert {pool.pick().endpoint.display_url for _ in range(4)} == {b}  # type: ignore[union-attr]

    clock.advance(9.5)
    assert states(backend)[a]["ejected_for_s"] == 0.5
    assert {pool.pick().endpoint.display_url for _ in range(4)} == {b}  # type: ignore[union-attr]
    pool.fail(second, BackendUnavailableError("refused"))
    pool.fail(second, BackendUnavailableError("refused"))
    assert pool.pick() is first, "every member ejected: the one whose cooldown ends first"

    clock.advance(0.5)
    assert not states(backend)[a]["ejected"]
    assert pool.pick() is first, "past its cooldown, the only member not ejected"
    pool.succeed(first)
    back = states(backend)[a]
    assert back["healthy"] and back["ejected_until"] is None and back["consecutive_failures"] == 0


# -- spread and failover against real servers ------------------------------------------------------


def test_requests_spread_by_least_outstanding(
    make_backend: Callable[..., Any], dmr_runner: DMRRunner, second_proxy: DMRProxy
) -> None:
    loaded_on(dmr_runner.model, dmr_runner.proxy, second_proxy)  # equally placed: the spread is by requests
    backend = make_backend(f"{dmr_runner.url},{second_proxy.url}", health_interval=0)

    async def run() -> list[str]:
        try:
            whole = [backend.generate(request(dmr_runner.model)) for _ in range(4)]
            streamed = [collect(backend, dmr_runner.model) for _ in range(4)]
            results = await asyncio.gather(*whole, *streamed)
            return [r if isinstance(r, str) else r.text for r in results]
        finally:
            await backend.aclose()

    texts = asyncio.run(run())
    assert len(texts) == 8 and all(isinstance(t, str) for t in texts)
    seen = states(backend)
    assert seen[dmr_runner.url]["successes"] == 4 and seen[second_proxy.url]["successes"] == 4, seen
    assert all(s["in_flight"] == 0 and s["failures"] == 0 and s["healthy"] for s in seen.values())


def test_a_failing_endpoint_is_ejected_and_requests_fail_over(
    make_backend: Callable[..., Any], dmr_runner: DMRRunner
) -> None:
    with ScriptedServer(runner_like(answer_503)) as bad:
        backend = make_backend(
            f"{bad.url},{dmr_runner.url}", eject_failures=1, eject_cooldown=60, health_interval=0, retries=2
        )

        async def run() -> None:
            try:
                for _ in range(3):
                    await backend.generate(request(dmr_runner.model))
                    assert await collect(backend, dmr_runner.model) is not None
            finally:
                await backend.aclose()

        asyncio.run(run())
    seen = states(backend)
    assert seen[bad.url]["ejected"] and seen[bad.url]["failures"] == 1 and seen[bad.url]["ejected_until"]
    assert "503" in seen[bad.url]["last_error"]
    assert seen[dmr_runner.url]["successes"] == 6
    assert len(posts(bad.requests)) == 1  # ejected after its first failure: no traffic during the cooldown


def test_an_endpoint_killed_mid_run_is_ejected_then_retried_and_reinstated(
    make_backend: Callable[..., Any], dmr_runner: DMRRunner
) -> None:
    victim = DMRProxy(dmr_runner.engine.base_url, engine_model=dmr_runner.model).start()
    port = victim.port
    assert port is not None
    url = victim.url
    loaded_on(dmr_runner.model, victim, dmr_runner.proxy)  # loaded on both: the requests spread over the two
    # the cooldown ends when the test moves the clock, not after a guessed sleep; it is shorter than
    # the 3 x 0.2 s of idleness that stop the health checks, so moving past it keeps them running
    clock = FakeClock()
    backend = make_backend(
        f"{dmr_runner.url},{url}", eject_failures=1, eject_cooldown=0.3, health_interval=0.2, retries=2, clock=clock
    )
    revived: DMRProxy | None = None
    interrupted: list[StreamInterruptedError] = []

    async def worker(count: int) -> int:
        done = 0
        for index in range(count):
            if index % 2:
                try:
                    await collect(backend, dmr_runner.model)
                except StreamInterruptedError as exc:
                    # a stream already running on the killed endpoint: never failed over mid-way
                    interrupted.append(exc)
                    continue
            else:
                await backend.generate(request(dmr_runner.model))
            done += 1
        return done

    async def until(finish: asyncio.Event) -> int:
        done = 0
        while not finish.is_set():
            done += await worker(2)
        return done

    async def run() -> None:
        nonlocal revived
        try:
            finish = asyncio.Event()
            first = asyncio.gather(*(until(finish) for _ in range(3)))
            assert await until_async(lambda: states(backend)[url]["successes"] >= 1), "the victim served"
            await asyncio.to_thread(victim.stop)  # killed mid-run, with requests in flight
            assert await until_async(lambda: states(backend)[url]["ejections"] >= 1), states(backend)[url]
            live = states(backend)[dmr_runner.url]["successes"]
            assert await until_async(lambda: states(backend)[dmr_runner.url]["successes"] >= live + 6)
            finish.set()
            assert sum(await first) >= 6  # every request succeeded (gather raises otherwise) ...
            assert len(interrupted) <= 3  # ... but streams cut by the kill (at most one per worker)
            dead = states(backend)[url]
            assert dead["failures"] >= 1 and dead["ejected"] and not dead["healthy"], dead
            checks = dead["health_checks"]
            clock.advance(0.3)  # past the cooldown: the next health check tries it again
            assert await until_async(lambda: states(backend)[url]["health_checks"] > checks), states(backend)[url]
            await worker(2)  # in use: the checks keep running
            again = states(backend)[url]
            assert again["health_checks"] > checks and not again["healthy"], again
            revived = await asyncio.to_thread(
                lambda: DMRProxy(dmr_runner.engine.base_url, engine_model=dmr_runner.model).start(port)
            )

            async def reinstated() -> bool:
                for _ in range(100):
                    clock.advance(0.3)  # any ejection by a check that beat the restart is over
                    await worker(1)
                    if await until_async(lambda: states(backend)[url]["healthy"], within=0.5):
                        return True
                return False

            assert await reinstated(), states(backend)[url]
            before = states(backend)[url]["successes"]
            await asyncio.gather(*(worker(2) for _ in range(3)))
            back = states(backend)[url]
            assert back["healthy"] and not back["ejected"] and back["successes"] > before, back
        finally:
            await backend.aclose()
            assert not backend.pool.health_running

    try:
        asyncio.run(run())
    finally:
        victim.stop()
        if revived is not None:
            revived.stop()


# -- the first chunk is the line --------------------------------------------------------------------


async def drop_before_first_event(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
    writer.write(sse_head())
    await writer.drain()
    writer.transport.abort()


async def drop_after_first_event(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
    event = {"choices": [{"index": 0, "delta": {"content": "partial"}, "finish_reason": None}]}
    writer.write(sse_head() + chunked(f"data: {json.dumps(event)}\n\n".encode()))
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.transport.abort()


async def stall(req: SeenRequest, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(60)  # past any deadline here; the server's stop ends it


@pytest.mark.parametrize("handler", [drop_before_first_event, answer_503])
def test_a_stream_failing_before_its_first_chunk_fails_over(
    handler: Any, make_backend: Callable[..., Any], dmr_runner: DMRRunner
) -> None:
    with ScriptedServer(runner_like(handler)) as bad:
        # The bad endpoint fails at once; the deadline only has to leave the real engine time to
        # answer on a loaded machine (0.5 s did not, in a CI run beside other builds).
        backend = make_backend(f"{bad.url},{dmr_runner.url}", first_token_timeout=30, health_interval=0)

        async def run() -> list[str]:
            try:
                return [await collect(backend, dmr_runner.model) for _ in range(2)]
            finally:
                await backend.aclose()

        assert len(asyncio.run(run())) == 2
        assert posts(bad.requests)  # the bad endpoint was tried first (in turn) and the stream moved on
    seen = states(backend)
    assert seen[bad.url]["failures"] >= 1 and seen[dmr_runner.url]["successes"] == 2


def test_a_stalled_endpoint_uses_up_the_requests_first_token_deadline(
    make_backend: Callable[..., Any], dmr_runner: DMRRunner
) -> None:
    """The first-token deadline is the request's, not each endpoint's: a stall past it is a timeout (no other
    endpoint could answer in time), counted against the stalled endpoint; the next request goes elsewhere."""
    with ScriptedServer(runner_like(stall)) as bad:
        # 3 s: the real engine answers the second request within it even on a loaded machine.
        backend = make_backend(f"{bad.url},{dmr_runner.url}", first_token_timeout=3, health_interval=0)

        async def run() -> str:
            async with adapter_over(backend, dmr_runner.model) as adapter:  # the adapter keeps the deadline
                with pytest.raises(GenerationTimeoutError, match="first-token"):
                    await _streamed(adapter)
                return await _streamed(adapter)

        assert isinstance(asyncio.run(run()), str)
    seen = states(backend)
    assert seen[bad.url]["failures"] == 1 and seen[dmr_runner.url]["successes"] == 1


def test_a_stream_is_never_failed_over_after_its_first_chunk(
    make_backend: Callable[..., Any], dmr_runner: DMRRunner
) -> None:
    with ScriptedServer(runner_like(drop_after_first_event)) as bad:
        backend = make_backend(f"{bad.url},{dmr_runner.url}", health_interval=0)
        got: list[str] = []

        async def run() -> None:
            try:
                async for chunk in backend.stream(request(dmr_runner.model, True)):
                    got.append(chunk.text)
            finally:
                await backend.aclose()

        proxied_before = len(posts(dmr_runner.proxy.requests))
        with pytest.raises(StreamInterruptedError):
            asyncio.run(run())
    assert got == ["partial"]
    assert len(posts(dmr_runner.proxy.requests)) == proxied_before  # nothing was sent to the other endpoint
    assert states(backend)[bad.url]["failures"] == 1


# -- health checks only while in use -----------------------------------------------------------------


def test_health_checks_run_only_while_in_use_and_stop_with_aclose(
    make_backend: Callable[..., Any], dmr_runner: DMRRunner, second_proxy: DMRProxy
) -> None:
    clock = FakeClock()
    backend = make_backend(f"{dmr_runner.url},{second_proxy.url}", health_interval=0.1, clock=clock)

    async def run() -> None:
        await backend.generate(request(dmr_runner.model))
        assert backend.pool.health_running
        assert await until_async(lambda: sum(s["health_checks"] for s in backend.endpoint_states()) >= 4)
        assert backend.pool.health_running, "no time passed on the pool's clock: still in use"
        clock.advance(0.31)  # idle for more than 3 intervals: the checks end by themselves
        assert await until_async(lambda: not backend.pool.health_running)
        await backend.generate(request(dmr_runner.model))
        assert backend.pool.health_running
        await backend.aclose()
        assert not backend.pool.health_running
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    asyncio.run(run())


# -- visible in the CLI ------------------------------------------------------------------------------------


def test_backends_json_and_doctor_show_each_endpoint(dmr_runner: DMRRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    from ultra_llm._cli.app import build_cli

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MODEL_RUNNER_URL", f"{dmr_runner.url},{dead}")
    monkeypatch.setenv("ULTRA_LLM_BACKEND", "docker-api")
    monkeypatch.setenv("DEFAULT_MODEL", dmr_runner.model)
    result = CliRunner().invoke(build_cli(), ["backends", "--json"])
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.output)["backends"] if r["name"] == "docker-api")
    shown = {e["url"]: e for e in row["diagnostics"]["endpoints"]}
    assert row["available"] and shown[dmr_runner.url]["healthy"] and not shown[dead]["healthy"]
    assert shown[dead]["last_error"] and shown[dead]["health_checks"] == 1

    result = CliRunner().invoke(build_cli(), ["doctor"])
    assert f"endpoint {dmr_runner.url}" in result.output and f"endpoint {dead}" in result.output, result.output
    assert "1 of 2 endpoints answer" in result.output
