"""What the docker-cli backend holds and waits for is bounded: answers and listings past their
size caps, a pull that goes silent, a huge CLI error message, deeply nested JSON, and processes
still open when the backend is closed. All through the real process boundary (the docker double)."""

from __future__ import annotations

import asyncio
import gc
import sys
import warnings
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from ultra_llm_docker.testing.double.cli_backend import alive, children, make_backend, run_pids
from ultra_llm_docker.testing.double.fixtures import DockerDouble
from ultra_llm_docker_cli.backend import DockerCLIBackend
from ultra_llm_docker_cli.failures import FIRST_LINE_LIMIT, error_for, first_line
from ultra_llm_docker_cli.parsers import parse_list_json, parse_status_json
from ultra_llm_docker_cli.settings import DockerCLISettings

from ultra_llm._types import Chunk, GenerationRequest, Progress, to_messages
from ultra_llm.errors import (
    GenerationError,
    GenerationTimeoutError,
    ResponseTooLargeError,
    StreamInterruptedError,
)


def request(prompt: str = "hi", model: str = "smollm2") -> GenerationRequest:
    return GenerationRequest(model, to_messages(prompt), None, "docker-cli")


# -- answer and listing size caps ------------------------------------------------------------------


def test_default_caps() -> None:
    settings = DockerCLISettings.load()
    assert settings.max_response_bytes == 16 * 1024 * 1024
    assert 1024 <= settings.max_listing_bytes <= settings.max_response_bytes
    assert settings.pull_idle_timeout >= 60


def test_a_streamed_answer_over_the_cap_is_refused_and_the_process_killed(docker_double: DockerDouble) -> None:
    docker_double.set(answer="word " * 100_000)  # ~500 KB
    backend = make_backend(max_response_bytes=65536, read_size=4096)
    got: list[Chunk] = []

    async def run() -> None:
        async for chunk in backend.stream(request()):
            got.append(chunk)

    with pytest.raises(ResponseTooLargeError) as caught:
        asyncio.run(run())
    assert "65536" in caught.value.message and "MAX_RESPONSE_BYTES" in caught.value.message
    assert got, "what arrived under the cap was streamed"
    assert sum(len(c.text.encode()) for c in got) <= 65536
    (pid,) = run_pids(docker_double)
    assert not alive(pid) and children() == [] and backend.runner.live_pids == []


def test_an_answer_just_under_the_cap_arrives_whole(docker_double: DockerDouble) -> None:
    answer = ("ok " * 10_000).strip()  # 29,999 bytes + the CLI's final newline
    docker_double.set(answer=answer)
    result = asyncio.run(make_backend(max_response_bytes=32 * 1024).generate(request()))
    assert result.text == answer


def test_a_listing_over_the_cap_is_refused(docker_double: DockerDouble) -> None:
    for i in range(40):
        docker_double.add_model(f"ai/model{i}:latest")
    backend = make_backend(max_listing_bytes=4096, status_cache_seconds=0)
    with pytest.raises(ResponseTooLargeError) as caught:
        asyncio.run(backend.list_models())
    assert "MAX_LISTING_BYTES" in caught.value.message
    assert caught.value.fix == "Raise ULTRA_LLM_DOCKER_CLI_MAX_LISTING_BYTES above 4096."  # not max_tokens
    assert children() == [] and backend.runner.live_pids == []
    # under a roomier cap the same listing is read
    assert len(asyncio.run(make_backend().list_models())) == 41


def test_a_status_over_the_cap_makes_the_runner_unavailable_not_a_crash(docker_double: DockerDouble) -> None:
    docker_double.set(backends={"llama.cpp": "Running: " + "x" * 20_000})
    availability = asyncio.run(make_backend(max_listing_bytes=4096, status_cache_seconds=0).check_availability())
    assert not availability.available and isinstance(availability.error, ResponseTooLargeError)
    assert children() == []


# -- a huge CLI error stays a short message --------------------------------------------------------


def test_first_line_is_cut_with_an_ellipsis() -> None:
    assert first_line("\n  short line  \nsecond") == "short line"
    cut = first_line("E" * 10_000)
    assert len(cut) == FIRST_LINE_LIMIT and cut.endswith("…")
    assert first_line("x" * FIRST_LINE_LIMIT) == "x" * FIRST_LINE_LIMIT


def test_a_huge_stderr_gives_a_short_message_and_keeps_the_output() -> None:
    stderr = "Failed to generate a response: " + "E" * 100_000
    error = error_for("run", returncode=1, stderr=stderr)
    assert isinstance(error, GenerationError)
    assert len(error.message) < 1000 and error.message.startswith("`docker model run` exited with code 1: Failed")
    assert error.output == stderr


def test_a_huge_stderr_through_the_process_boundary(docker_double: DockerDouble) -> None:
    docker_double.set(fault="crash", fault_after=1, fault_message="boom " + "E" * (200 * 1024))
    with pytest.raises(StreamInterruptedError) as caught:
        asyncio.run(make_backend().generate(request("a b c")))
    assert len(caught.value.message) < 1000 and "boom" in caught.value.message
    assert len(caught.value.output) >= 60 * 1024  # the stderr kept (64 KiB) is all in `output`


# -- deeply nested JSON is malformed, not a crash --------------------------------------------------


@pytest.mark.parametrize("parse", [parse_list_json, parse_status_json])
@pytest.mark.parametrize("deep", ["[" * 100_000, "{" + '"a":{' * 50_000, "[" * 50_000 + "]" * 50_000])
def test_deeply_nested_json_is_a_value_error(parse: Any, deep: str) -> None:
    with pytest.raises(ValueError):
        parse(deep)


# -- a pull that goes silent -----------------------------------------------------------------------


def test_a_silent_pull_is_stopped_at_the_idle_timeout(docker_double: DockerDouble) -> None:
    docker_double.set(pull_steps=5, pull_hang_after=1)
    backend = make_backend(pull_idle_timeout=0.5)
    seen: list[Progress] = []
    with pytest.raises(GenerationTimeoutError) as caught:
        asyncio.run(backend.pull("ai/gemma3", seen.append))
    error = caught.value
    assert error.timeout == 0.5 and "printed nothing for 0.5 s" in error.message
    assert error.fix is not None and "ULTRA_LLM_DOCKER_CLI_PULL_IDLE_TIMEOUT" in error.fix
    assert len(seen) == 1 and seen[0].message.startswith("Downloaded ") and seen[0].status == "progress"
    assert children() == [] and backend.runner.live_pids == []
    assert "ai/gemma3:latest" not in {t for m in docker_double.models for t in m["tags"]}


def test_a_pull_that_keeps_printing_outlives_the_idle_timeout(docker_double: DockerDouble) -> None:
    docker_double.set(pull_steps=4, pull_delay=0.3)  # 1.2 s in all, never silent for 0.6 s
    seen: list[Progress] = []
    asyncio.run(make_backend(pull_idle_timeout=0.6).pull("ai/gemma3", seen.append))
    assert len(seen) == 5 and seen[-1].status == "success"


# -- closing the backend with a stream still open --------------------------------------------------


def test_aclose_mid_stream_kills_and_reaps_and_warns_about_nothing(
    docker_double: DockerDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker_double.set(token_delay=0.2)
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    loop_errors: list[dict[str, Any]] = []

    async def run() -> tuple[str, list[int], StreamInterruptedError | None]:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        backend = make_backend()
        stream = backend.stream(request("one two three four five six seven eight"))
        first = await stream.__anext__()
        live = backend.runner.live_pids
        await backend.aclose()
        assert backend.runner.live_pids == []
        gone = [pid for pid in live if not alive(pid)]
        # a second open stream is left unclosed on purpose: loop shutdown finalizes it
        other = backend.stream(request("left open"))
        await other.__anext__()
        await backend.aclose()
        try:
            await stream.__anext__()
        except StreamInterruptedError as exc:
            return first.text, gone, exc
        return first.text, gone, None

    gc.collect()  # what earlier tests left for the collector is not this test's to answer for
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text, gone, error = asyncio.run(run())
        gc.collect()
    assert text
    assert len(gone) == 1, "the stream's process was reaped by aclose (not even a zombie left)"
    assert error is not None and "closed" in error.message
    assert not any(alive(pid) for pid in run_pids(docker_double)) and children() == []
    assert [str(w.message) for w in caught] == []
    assert unraisable == [] and loop_errors == []


def test_aclose_with_nothing_open_and_twice_is_fine(docker_double: DockerDouble) -> None:
    backend = make_backend()

    async def run() -> str:
        await backend.aclose()
        result = await backend.generate(request())
        await backend.aclose()
        await backend.aclose()
        return result.text

    assert asyncio.run(run())


def test_aclose_of_a_backend_used_on_a_finished_loop_kills_its_leftover(docker_double: DockerDouble) -> None:
    """A stream opened on one loop and abandoned there (its loop closed without finalizing it) is
    still killed by ``aclose`` on another loop."""
    docker_double.set(token_delay=0.5)
    backend: DockerCLIBackend = make_backend()
    loop = asyncio.new_event_loop()
    stream = backend.stream(request("one two three four"))
    assert isinstance(stream, AsyncGenerator)
    try:
        loop.run_until_complete(stream.__anext__())
        (pid,) = backend.runner.live_pids
        asyncio.run(backend.aclose())
        assert backend.runner.live_pids == []
        loop.run_until_complete(asyncio.sleep(0.2))  # the child watcher reaps the killed process
        loop.run_until_complete(stream.aclose())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    assert not alive(pid) and children() == []


def test_loop_shutdown_finalizes_an_unclosed_stream_in_any_order(docker_double: DockerDouble) -> None:
    """At shutdown the loop closes every async generator it tracks, in no set order. A stream whose
    process context was itself an async generator (``asynccontextmanager``) failed with "generator
    didn't stop after athrow()" when that inner generator was closed first. Here every other tracked
    generator is closed first, on purpose (``loop._asyncgens`` is what ``shutdown_asyncgens`` walks)."""
    docker_double.set(token_delay=0.2)

    async def run() -> list[BaseException]:
        loop = asyncio.get_running_loop()
        backend = make_backend()
        stream = backend.stream(request("one two three four"))
        await stream.__anext__()
        others = [gen for gen in list(loop._asyncgens) if gen is not stream]  # type: ignore[attr-defined]
        problems: list[BaseException] = []
        for gen in [*others, stream]:
            try:
                await gen.aclose()
            except BaseException as exc:  # the check itself: any error closing them fails it
                problems.append(exc)
        await backend.aclose()
        return problems

    assert asyncio.run(run()) == []
    assert children() == []
