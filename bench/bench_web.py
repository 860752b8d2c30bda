"""Web: streamed generation through the HTTP API against the same generation on the adapter (issue 8).

One run, mock backend with fast tokens (``ULTRA_LLM_MOCK_DELAY`` = 1 ms, a 200-word echo). The
HTTP side is ``ultra-llm serve`` on loopback read by an ``httpx2`` client parsing the SSE frames;
the direct side is ``Adapter.stream`` in this process. Limits: time to first chunk at most 5 ms
more (reported as the extra time over a 5 ms budget, so the ratio must be <= 1) and client-visible
throughput (chunks per second, request to last chunk) at least 0.9x.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .runner import Measurement, case

SCRIPT = str(Path(sys.executable).with_name("ultra-llm"))
RUNS = 15
WORDS = 200
TOKEN_DELAY = "0.001"
TTFC_BUDGET_MS = 5.0
PROMPT = " ".join(f"w{i}" for i in range(WORDS))
ENV = {"ULTRA_LLM_BACKEND": "mock", "ULTRA_LLM_MOCK_DELAY": TOKEN_DELAY, "ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY": "0"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http_runs(url: str) -> tuple[list[float], list[float]]:
    """Time to first chunk (ms) and chunks per second for each run, as the HTTP client sees them."""
    import httpx2

    body = {"prompt": PROMPT, "model": "mock/echo", "stream": True}
    ttfc: list[float] = []
    rates: list[float] = []
    with httpx2.Client(base_url=url, timeout=30) as client:
        for index in range(RUNS + 2):
            chunks = 0
            first = 0.0
            start = time.perf_counter()
            with client.stream("POST", "/api/generate", json=body) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.startswith("data:") and '"text"' in line:
                        json.loads(line[5:])
                        chunks += 1
                        if chunks == 1:
                            first = time.perf_counter() - start
            total = time.perf_counter() - start
            if chunks != WORDS:
                raise RuntimeError(f"expected {WORDS} chunks over HTTP, got {chunks}")
            if index >= 2:  # two warm-up runs
                ttfc.append(first * 1000)
                rates.append(chunks / total)
    return ttfc, rates


async def _direct_runs() -> tuple[list[float], list[float]]:
    from ultra_llm import create_adapter

    ttfc: list[float] = []
    rates: list[float] = []
    async with await create_adapter("mock/echo") as adapter:
        for index in range(RUNS + 2):
            chunks = 0
            first = 0.0
            start = time.perf_counter()
            async for chunk in adapter.stream(PROMPT):
                if chunk.text:
                    chunks += 1
                    if chunks == 1:
                        first = time.perf_counter() - start
            total = time.perf_counter() - start
            if index >= 2:
                ttfc.append(first * 1000)
                rates.append(chunks / total)
    return ttfc, rates


def _serve() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [SCRIPT, "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("ultra-llm serve exited at start") from None
            time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError("ultra-llm serve did not start")


@case("web")
def web() -> list[Measurement]:
    process, url = _serve()
    try:
        http_ttfc, http_rates = _http_runs(url)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    try:
        direct_ttfc, direct_rates = asyncio.run(_direct_runs())
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    http_first, direct_first = statistics.median(http_ttfc), statistics.median(direct_ttfc)
    http_rate, direct_rate = statistics.median(http_rates), statistics.median(direct_rates)
    extra = max(http_first - direct_first, 0.0)
    return [
        Measurement("web", "first chunk, HTTP API (SSE)", http_first, "first chunk, adapter.stream", direct_first),
        Measurement(
            "web", "first chunk, HTTP minus direct", extra, f"budget: +{TTFC_BUDGET_MS:g} ms", TTFC_BUDGET_MS, limit=1.0
        ),
        Measurement(
            "web",
            "chunks/s, HTTP API (SSE)",
            http_rate,
            "chunks/s, adapter.stream",
            direct_rate,
            unit="/s",
            limit=0.9,
            higher_is_better=True,
        ),
    ]
