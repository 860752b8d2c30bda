"""The docker-api request path against llama.cpp's own ``llama-server`` (issue 16's speed section).

One llama-server (the tiny GGUF model, ``-t 1``) serves every request in the ``/v1`` layout; each
subject is compared with raw httpx2 doing the same request in the same run, rounds interleaved.

* ``docker-api-back-to-back``: 200 short streams one right after the other through ``DockerAPIBackend``
  (in blocks of 20, alternating with blocks of raw httpx2 streams).
  llama-server closes the connection after every streamed answer while saying keep-alive, so a
  client that reuses it fails or, with a back-off, stalls. Limits: p99 at most 3x the median, and
  no stream more than 0.3 s over the median (no back-off was waited). Raw httpx2's own figures and
  failures on the same server are shown beside.
* ``docker-api-first-token``: time to the first text chunk through the full ``Adapter`` against raw
  httpx2 reading the same stream to its first content delta, 200 pairs taken back to back. Limit:
  at most 1 ms more (the row's value is the median of the paired differences, which the machine's
  load moves less than a difference of medians; its baseline is the 1 ms allowed).

The binary is the one the test suite builds and caches: ``~/.cache/ultra-llm/llama-server-<version>/``
(or ``ULTRA_LLM_LLAMA_SERVER`` naming the executable). Without it the cases are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .runner import Measurement, case

STREAMS = 200
BLOCK = 20
"""Streams one subject sends back to back before the other takes its turn."""
FIRST_TOKEN_SAMPLES = 200
MAX_TOKENS = 4
PROMPT = "hi"
"""A prompt the random tiny model answers in text at temperature 0 (some make llama-server's --jinja output
parser fail with a 500 "does not match the expected peg-native format")."""
CACHE = Path.home() / ".cache" / "ultra-llm"


def find_llama_server() -> Path | None:
    """The cached llama-server executable (``ULTRA_LLM_LLAMA_SERVER`` first), or ``None``."""
    named = os.environ.get("ULTRA_LLM_LLAMA_SERVER")
    if named:
        return Path(named) if os.access(named, os.X_OK) else None
    for directory in sorted(CACHE.glob("llama-server-*"), reverse=True):
        if directory.is_dir():
            for candidate in sorted(directory.rglob("llama-server")):
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return candidate
    return None


def _skip_reason() -> str | None:
    if find_llama_server() is None:
        return f"no llama-server binary under {CACHE}/llama-server-<version>/ (the test suite builds it)"
    return None


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def llama_server() -> Iterator[str]:
    """A llama-server on a free loopback port serving the tiny model as ``ai/tiny``; its base URL. Stopped after."""
    from ultra_llm_docker.testing.engine.launcher import free_port
    from ultra_llm_docker.testing.engine.tiny_model import write_tiny_model

    binary = find_llama_server()
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="bench-llama-server-") as directory:
        model = write_tiny_model(f"{directory}/tiny.gguf")
        port = free_port()
        env = {**os.environ, "LD_LIBRARY_PATH": f"{binary.parent}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
        argv = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "--alias", "ai/tiny"]
        with open(f"{directory}/server.log", "wb") as log:
            process = subprocess.Popen([*argv, "--jinja", "-t", "1"], stdout=log, stderr=log, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while not _ready(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    log_tail = Path(directory, "server.log").read_text()[-2000:]
                    raise RuntimeError(f"llama-server did not start: {log_tail}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _ResendCounter(logging.Handler):
    """Counts the backend's "resent at once" records (a kept-alive connection the server had closed)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "resent at once" in record.getMessage():
            self.count += 1


def _raw_client() -> Any:
    import httpx2

    return httpx2.AsyncClient(
        transport=httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_connections=100, max_keepalive_connections=32)),
        timeout=httpx2.Timeout(connect=5.0, read=None, write=30.0, pool=120.0),
    )


async def _raw_first_token(client: Any, url: str) -> tuple[float, bool]:
    """Seconds to raw httpx2's first content delta (the stream then read to its end); and whether the
    server had closed (or reset) the reused connection (the attempt is not timed then)."""
    import httpx2

    message = {"role": "user", "content": PROMPT}
    body = {"model": "ai/tiny", "messages": [message], "max_tokens": MAX_TOKENS, "temperature": 0}
    started = time.perf_counter()
    first: float | None = None
    try:
        async with client.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}) as response:
            async for line in response.aiter_lines():
                if first is None and line.startswith("data: {"):
                    choices = json.loads(line[6:])["choices"]  # a KeyError for an error event: a broken bench
                    if choices and choices[0]["delta"].get("content"):
                        first = time.perf_counter() - started
    except (httpx2.RemoteProtocolError, httpx2.ReadError):  # closed cleanly, or reset: either way stale
        return 0.0, True
    return (first if first is not None else time.perf_counter() - started), False


async def _chunks_first(stream: AsyncIterator[Any]) -> float:
    started = time.perf_counter()
    first: float | None = None
    async for chunk in stream:
        if first is None and chunk.text:
            first = time.perf_counter() - started
    return first if first is not None else time.perf_counter() - started


def _backend(url: str) -> Any:
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.settings import DockerAPISettings

    from ultra_llm import load_config

    return DockerAPIBackend(load_config(), settings=DockerAPISettings.load(url=f"{url}/v1", stream_usage=False))


def _request() -> Any:
    from ultra_llm_docker_api.options import DockerAPIOptions

    from ultra_llm._types import to_messages
    from ultra_llm.plugin import GenerationRequest

    options = DockerAPIOptions(temperature=0, max_tokens=MAX_TOKENS)
    values = options.model_dump(exclude_none=True)
    return GenerationRequest("ai/tiny", to_messages(PROMPT), options, "docker-api", values)


@case("docker-api-back-to-back")
def back_to_back() -> list[Measurement]:
    if (reason := _skip_reason()) is not None:
        print(f"docker-api-back-to-back: skipped ({reason})")
        return []
    resent = _ResendCounter()
    logger = logging.getLogger("ultra_llm.docker_api")
    logger.addHandler(resent)
    level, logger.level = logger.level, logging.DEBUG
    with llama_server() as url:
        backend, raw, request = _backend(url), _raw_client(), _request()

        async def run() -> tuple[list[float], list[float], int]:
            ours: list[float] = []
            theirs: list[float] = []
            raw_failures = 0
            try:
                for _ in range(5):  # warm the pools and lazy imports
                    await _chunks_first(backend.stream(request))
                    await _raw_first_token(raw, url)
                for _ in range(STREAMS // BLOCK):  # blocks of back-to-back streams, alternating, so both
                    for _ in range(BLOCK):  # subjects see the same load
                        started = time.perf_counter()
                        await _chunks_first(backend.stream(request))
                        ours.append(time.perf_counter() - started)
                    for _ in range(BLOCK):
                        started = time.perf_counter()
                        _, failed = await _raw_first_token(raw, url)
                        if failed:
                            raw_failures += 1
                        else:
                            theirs.append(time.perf_counter() - started)
                return ours, theirs, raw_failures
            finally:
                await backend.aclose()
                await raw.aclose()

        try:
            ours, theirs, raw_failures = asyncio.run(run())
        finally:
            logger.removeHandler(resent)
            logger.setLevel(level)
    median, p99, worst = _figures(ours)
    raw_median, raw_p99, raw_worst = _figures(theirs)
    print(
        f"docker-api-back-to-back: {STREAMS} streams, backend median {median:.1f} ms, p99 {p99:.1f} ms, "
        f"max {worst:.1f} ms; raw httpx2 median {raw_median:.1f} ms, p99 {raw_p99:.1f} ms, max {raw_worst:.1f} ms, "
        f"{raw_failures} of {STREAMS} failed on a connection llama-server had closed; the backend resent "
        f"{resent.count} at once for that"
    )
    return [
        Measurement("docker-api-back-to-back", "backend stream p99", p99, "backend stream median", median, limit=3.0),
        Measurement(
            "docker-api-back-to-back", "backend max - median", worst - median, "0.3 s allowed", 300.0, limit=1.0
        ),
        Measurement(  # the machine's own tail, for telling it from the backend's
            "docker-api-back-to-back", "raw httpx2 p99", raw_p99, "raw httpx2 median", raw_median
        ),
        Measurement("docker-api-back-to-back", "backend stream median", median, "raw httpx2 median", raw_median),
        Measurement(
            "docker-api-back-to-back",
            "raw failures (stale connection)",
            float(raw_failures),
            "streams",
            float(STREAMS),
            unit="n",
        ),
    ]


@case("docker-api-first-token")
def first_token() -> list[Measurement]:
    if (reason := _skip_reason()) is not None:
        print(f"docker-api-first-token: skipped ({reason})")
        return []
    from ultra_llm import Adapter, PluginHost, Selection, load_config

    with llama_server() as url:
        config = load_config()
        adapter = Adapter(
            PluginHost(entry_points=lambda: []),
            _backend(url),
            model="ai/tiny",
            config=config,
            selection=Selection("docker-api", "bench", "docker-api"),
        )
        raw = _raw_client()

        async def run() -> tuple[list[float], list[float]]:
            ours: list[float] = []
            theirs: list[float] = []
            try:
                for _ in range(5):
                    await _chunks_first(adapter.stream(PROMPT, temperature=0, max_tokens=MAX_TOKENS))
                    await _raw_first_token(raw, url)
                while len(ours) < FIRST_TOKEN_SAMPLES:  # pairs, taken back to back: the load is the same
                    mine = await _chunks_first(adapter.stream(PROMPT, temperature=0, max_tokens=MAX_TOKENS))
                    seconds, failed = await _raw_first_token(raw, url)
                    if not failed:
                        ours.append(mine)
                        theirs.append(seconds)
                return ours, theirs
            finally:
                await adapter.aclose()
                await raw.aclose()

        ours, theirs = asyncio.run(run())
    adapter_ms, raw_ms = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
    more_ms = statistics.median([(mine - base) * 1000 for mine, base in zip(ours, theirs, strict=True)])
    print(
        f"docker-api-first-token: adapter median {adapter_ms:.2f} ms, raw httpx2 median {raw_ms:.2f} ms, "
        f"median of the {len(ours)} paired differences {more_ms:.2f} ms"
    )
    return [
        Measurement("docker-api-first-token", "adapter first token", adapter_ms, "raw httpx2 first token", raw_ms),
        Measurement("docker-api-first-token", "adapter - raw, paired (ms)", more_ms, "1 ms allowed", 1.0, limit=1.0),
    ]


def _figures(seconds: list[float]) -> tuple[float, float, float]:
    """Median, 99th percentile and maximum, in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    if not ms:
        return float("nan"), float("nan"), float("nan")
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) >= 2 else ms[0]
    return statistics.median(ms), p99, ms[-1]
