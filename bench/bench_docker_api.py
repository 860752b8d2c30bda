"""The docker-api backend against a real llama.cpp engine (issue 4's performance section).

One real engine (the tiny GGUF model under llama.cpp's ``llama-server``, as the tests run it) serves
every request; the client talks to its OpenAI layout (``/v1``) directly, so only client-side work is
in this process.

* ``docker-api-cpu-whole`` / ``docker-api-cpu-stream``: the client's CPU time per request (the
  process's, user and system). Every subject below makes the same request (same body, a pooled
  client of its own for each kind, the answer parsed to text) ``PER_ROUND`` times in each of
  ``ROUNDS`` rounds, one request of every subject after another in an order shuffled for every
  pass, so none always goes first. Each row's ratio is the median over the rounds of subject /
  baseline within the round (``Measurement.round_ratios``); the two value columns are the medians
  of the rounds.

  - Raw httpx2 on a second client (an independent ``httpx2.AsyncClient`` doing exactly what the
    first does) against raw httpx2: within 1.03x either way (``two_sided``). The harness' noise
    floor: it must be well under the margins judged below.
  - ``DockerAPIBackend`` against raw httpx2: limit 1.2x.
  - Through the full ``Adapter`` (option validation, deadline, the composed middleware chain) with
    no middleware, against raw httpx2: limit 1.10x.
  - Through an ``Adapter`` whose chain is one pass-through middleware (a plugin whose
    ``ultra_llm_middleware`` returns a ``Middleware`` that only calls ``call_next``) against the
    no-middleware adapter: limit 1.03x; and against raw httpx2, reported without a limit.
  - With the metrics middleware on (``ULTRA_LLM_METRICS=1``) against raw httpx2: limit 1.15x.
  - The OpenAI SDK against raw httpx2, when it is installed: reported without a limit.
  - Project calls per request (unit ``calls``, no limit): Python frame entries in project code
    (files under ``ultra_llm/`` or ``plugins/``) during one request, through the no-middleware
    adapter against the backend alone, counted with ``sys.setprofile`` over ``PROFILED`` requests
    after the timed rounds; and the number of distinct project functions entered, likewise. A
    profiler "call" event is a call or the resumption of a coroutine or generator, so an
    ``async def`` that awaits I/O counts once per wake-up. With ``ULTRA_LLM_BENCH_PROFILE=1`` the
    25 most entered project functions (file:line name, entries per request) are printed for the
    adapter's whole and stream requests.

* ``docker-api-256-streams``: 256 concurrent streams through one backend all complete with no
  error; the row shows the wall time, and the Python heap peak (tracemalloc) must stay under 64 MiB.

Needs the pinned ``llama-server``
(``python plugins/ultra-llm-docker/ultra_llm_docker/testing/engine/build_llama_server.py``); the
case is skipped (empty) without it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, NamedTuple

from .runner import Measurement, case

if TYPE_CHECKING:
    from ultra_llm_docker.testing.engine.launcher import EngineProcess

    from ultra_llm import Adapter
    from ultra_llm.plugin import Chunk, GenerationRequest, Result, UltraConfig

MAX_TOKENS = 16
ROUNDS = 17
PER_ROUND = 20
"""Requests of every subject in a round."""
WARMUP = 3
"""Untimed requests of every subject first (pools, caches, lazy imports)."""
ROUND_SEED = 4
"""Seeds the shuffle of the subjects' order in each round, so two runs interleave alike."""
PROFILED = 5
"""Requests the call count is taken over."""
TOP = 25
MESSAGES = [{"role": "user", "content": "hello world, tell me about benchmarks"}]
KINDS = ("whole", "stream")

Call = Callable[[], Awaitable[object]]
"""One request of one subject: make it, read the whole answer."""
Close = Callable[[], Awaitable[object]]


class Calls(NamedTuple):
    """One subject on a client of its own: its whole request, its streamed one, closing the client."""

    whole: Call
    stream: Call
    close: Close


@contextmanager
def engine() -> Iterator[EngineProcess]:
    """A real engine for the duration of one case; always stopped."""
    from ultra_llm_docker.testing.engine.launcher import start_engine
    from ultra_llm_docker.testing.engine.tiny_model import write_tiny_model

    with tempfile.TemporaryDirectory(prefix="bench-docker-api-") as directory:
        process = start_engine(write_tiny_model(f"{directory}/tiny.gguf"), log_dir=directory, embedding=True)
        try:
            yield process
        finally:
            process.stop()


def _cpu_seconds(func: Call, loop: asyncio.AbstractEventLoop) -> float:
    """The process CPU seconds (user and system, every thread) one request of ``func`` takes.

    ``time.process_time`` is exact to the nanosecond, so one request is a window of its own;
    ``getrusage``'s user time is that same total split between user and system by scheduler-tick
    samples, too coarse for a request of 3 ms. A helper thread's work (a resolver) counts, as the client's own."""
    start = time.process_time()
    loop.run_until_complete(func())
    return time.process_time() - start


def _missing() -> str | None:
    """Why the real engine cannot run (not built), or ``None``."""
    from ultra_llm_docker.testing.engine.launcher import engine_missing

    return engine_missing()


@case("docker-api-cpu")
def client_cpu() -> list[Measurement]:
    """Every subject's client CPU per request against its baseline, and the project calls per request."""
    if missing := _missing():
        print(f"docker-api-cpu: skipped ({missing})")
        return []
    with engine() as process:
        loop = asyncio.new_event_loop()
        try:
            subjects, closes = _cpu_subjects(process.url)
            try:
                samples, calls = _measure(subjects, loop)
            finally:
                for close in closes:
                    loop.run_until_complete(close())
        finally:
            loop.close()
    _report_calls(calls)
    return [*_cpu_rows(samples), *_call_rows(calls)]


def _measure(
    subjects: dict[str, Call], loop: asyncio.AbstractEventLoop
) -> tuple[dict[str, list[float]], dict[str, ProjectCalls]]:
    """Warm every subject up (pools, caches, lazy imports), time the interleaved rounds, then count
    the project calls of the adapter's and the backend's requests (after the timing: the profiler
    slows everything down)."""
    for func in subjects.values():
        for _ in range(WARMUP):
            _cpu_seconds(func, loop)
    samples = _interleaved_rounds(subjects, loop)
    calls = {
        f"{name}-{kind}": _project_calls(subjects[f"{name}-{kind}"], loop)
        for name in PROFILED_SUBJECTS
        for kind in KINDS
    }
    return samples, calls


def _interleaved_rounds(subjects: dict[str, Call], loop: asyncio.AbstractEventLoop) -> dict[str, list[float]]:
    """Each subject's CPU milliseconds per request in each of ``ROUNDS`` rounds. A round is
    ``PER_ROUND`` passes; a pass makes one request of every subject, in an order shuffled (seeded by
    ``ROUND_SEED``) for every pass, so the subjects share the machine's state request by request."""
    order = list(subjects)
    shuffle = random.Random(ROUND_SEED).shuffle
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(ROUNDS):
        spent = dict.fromkeys(subjects, 0.0)
        for _ in range(PER_ROUND):
            shuffle(order)
            for name in order:
                spent[name] += _cpu_seconds(subjects[name], loop)
        for name, seconds in spent.items():
            samples[name].append(seconds * 1000 / PER_ROUND)
    return samples


# -- the subjects ---------------------------------------------------------------------------------


def _cpu_subjects(url: str) -> tuple[dict[str, Call], list[Close]]:
    """Every subject's whole and stream request, named ``<subject>-<kind>`` (``raw-whole``,
    ``adapter-stream``, ...), each on a client of its own; and the closes of those clients.

    The two kinds of a subject do not share a client: llama-server closes the connection after
    every stream, and whether the next whole request on that client meets the closed connection
    would depend on the order of the pass."""
    from ultra_llm import load_config

    config = load_config()
    makers: dict[str, Callable[[], Calls]] = {
        "raw": lambda: _raw_calls(url),
        "raw2": lambda: _raw_calls(url),
        "backend": lambda: _backend_calls(_backend(config, url)),
        "adapter": lambda: _adapter_calls(_adapter(config, url)),
        "empty": lambda: _adapter_calls(_adapter(config, url, _pass_through_plugin())),
        "metered": lambda: _adapter_calls(_metered_adapter(config, url)),
    }
    if importlib.util.find_spec("openai") is not None:
        makers["openai"] = lambda: _openai_calls(url)
    else:
        print("docker-api-cpu: the OpenAI SDK is not installed, so it is not reported beside (pip install openai)")
    subjects: dict[str, Call] = {}
    closes: list[Close] = []
    for name, make in makers.items():
        for kind in KINDS:
            calls = make()
            subjects[f"{name}-{kind}"] = getattr(calls, kind)
            closes.append(calls.close)
    return subjects, closes


def _raw_calls(url: str) -> Calls:
    """Raw httpx2 making the bench's request, whole and streamed, on a client of its own (the
    backend's pool settings), the answer parsed to text; and the client's close.

    llama-server closes the connection after every streamed answer although it says keep-alive; a
    request sent on that dead pooled connection fails before any response byte and is sent again at
    once, as the backend does (what a correct minimal client does).
    """
    import httpx2

    client = httpx2.AsyncClient(
        transport=httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_connections=100, max_keepalive_connections=32)),
        timeout=httpx2.Timeout(connect=5.0, read=None, write=30.0, pool=120.0),
    )
    endpoint = f"{url}/chat/completions"
    whole_body = {"model": "ai/tiny", "messages": MESSAGES, "temperature": 0, "max_tokens": MAX_TOKENS}
    stream_body = {**whole_body, "stream": True}
    stale = (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError)

    async def whole_once() -> str:
        response = await client.post(endpoint, json=whole_body)
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])

    async def stream_once() -> str:
        parts: list[str] = []
        async with client.stream("POST", endpoint, json=stream_body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:])["choices"]:
                        parts.append(choice["delta"].get("content") or "")
        return "".join(parts)

    def resent(send: Callable[[], Awaitable[str]]) -> Call:
        async def call() -> str:
            try:
                return await send()
            except stale:
                return await send()

        return call

    return Calls(resent(whole_once), resent(stream_once), client.aclose)


def _backend(config: UltraConfig, url: str) -> Any:
    """A ``DockerAPIBackend`` of its own on the engine at ``url`` (no usage chunk asked for)."""
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.settings import DockerAPISettings

    return DockerAPIBackend(config, settings=DockerAPISettings.load(url=url, stream_usage=False))


def _backend_calls(backend: Any) -> Calls:
    """The bench's request through ``backend`` directly: ``generate``, and ``stream`` (text joined)."""
    from ultra_llm_docker_api.options import DockerAPIOptions

    from ultra_llm._types import to_messages
    from ultra_llm.plugin import GenerationRequest

    options = DockerAPIOptions(temperature=0, max_tokens=MAX_TOKENS)
    request = GenerationRequest(
        "ai/tiny", to_messages(MESSAGES[0]["content"]), options, "docker-api", options.model_dump(exclude_none=True)
    )

    async def whole() -> str:
        return str((await backend.generate(request)).text)

    async def stream() -> str:
        return "".join([chunk.text async for chunk in backend.stream(request)])

    return Calls(whole, stream, backend.aclose)


def _adapter_calls(adapter: Adapter) -> Calls:
    """The bench's request through ``adapter``: whole, and streamed (its text joined)."""
    prompt = MESSAGES[0]["content"]

    async def whole() -> str:
        return str(await adapter.generate(prompt, temperature=0, max_tokens=MAX_TOKENS))

    async def stream() -> str:
        return "".join([t async for t in adapter.stream_generate(prompt, temperature=0, max_tokens=MAX_TOKENS)])

    return Calls(whole, stream, adapter.aclose)


def _adapter(config: UltraConfig, url: str, plugin: object | None = None) -> Adapter:
    """An adapter on a backend of its own, on a host with no entry points: its chain is empty, or
    ``plugin``'s middleware alone when one is given (registered as ``pass-through``)."""
    from ultra_llm import Adapter, PluginHost, Selection

    host = PluginHost(entry_points=lambda: [])
    expected = []
    if plugin is not None:
        expected.append(host.register(plugin, name="pass-through"))
    selection = Selection("docker-api", "bench", "docker-api")
    adapter = Adapter(host, _backend(config, url), model="ai/tiny", config=config, selection=selection)
    if [layer.plugin for layer in adapter.chain.layers] != expected:
        raise AssertionError(f"expected the middleware of {expected!r}, got {adapter.chain.layers!r}")
    return adapter


def _pass_through_plugin() -> object:
    """A plugin whose ``ultra_llm_middleware`` returns middleware that only calls ``call_next``
    (``generate`` awaits it, ``stream`` returns its iterator): one layer's cost in the chain itself."""
    from ultra_llm.plugin import GenerateNext, Middleware, StreamNext, hookimpl

    class PassThrough(Middleware):
        async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
            return await call_next(request)

        def stream(self, request: GenerationRequest, call_next: StreamNext) -> AsyncIterator[Chunk]:
            return call_next(request)

    class PassThroughPlugin:
        @hookimpl
        def ultra_llm_middleware(self) -> Middleware:
            return PassThrough()

    return PassThroughPlugin()


def _metered_adapter(config: UltraConfig, url: str) -> Adapter:
    """An adapter whose chain has the installed metrics plugin's middleware (made with it on)."""
    from ultra_llm import Adapter, PluginHost, Selection

    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "metrics"})
    saved = os.environ.get("ULTRA_LLM_METRICS")
    os.environ["ULTRA_LLM_METRICS"] = "1"
    try:
        adapter = Adapter(
            host, _backend(config, url), model="ai/tiny", config=config, selection=Selection("docker-api", "bench", "")
        )
    finally:
        if saved is None:
            del os.environ["ULTRA_LLM_METRICS"]
        else:
            os.environ["ULTRA_LLM_METRICS"] = saved
    if [layer.plugin for layer in adapter.chain.layers] != ["metrics"]:
        raise AssertionError(f"expected the metrics middleware alone, got {adapter.chain.layers!r}")
    return adapter


def _openai_calls(url: str) -> Calls:
    """The same two requests through the OpenAI SDK (a comparison, not a limit; it must be installed).

    LiteLLM is not measured: importing it takes seconds and fetches a model price list from the
    internet, which a benchmark here must not do.
    """
    import openai

    # One retry: llama-server closes the connection after each stream, and a request sent on the
    # dead pooled connection fails before any response byte (see _raw_calls).
    client = openai.AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=1)
    messages: Any = MESSAGES  # the SDK's TypedDict message types; the same plain dicts go on the wire

    async def openai_whole() -> str:
        response = await client.chat.completions.create(
            model="ai/tiny",
            messages=messages,
            temperature=0,
            max_tokens=MAX_TOKENS,
        )
        return response.choices[0].message.content or ""

    async def openai_stream() -> str:
        stream = await client.chat.completions.create(
            model="ai/tiny",
            messages=messages,
            temperature=0,
            max_tokens=MAX_TOKENS,
            stream=True,
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    return Calls(openai_whole, openai_stream, client.close)


# -- the rows -------------------------------------------------------------------------------------

COMPARED: tuple[tuple[str, str, float | None], ...] = (
    ("openai", "raw", None),
    ("raw2", "raw", 1.03),  # two-sided: see _compared
    ("backend", "raw", 1.2),
    ("adapter", "raw", 1.10),
    ("empty", "adapter", 1.03),
    ("empty", "raw", None),
    ("metered", "raw", 1.15),
)
"""The CPU rows of each kind, in table order: subject, baseline, limit on their ratio (or none)."""

LABELS = {
    "raw": "raw httpx2",
    "raw2": "raw httpx2, a second client",
    "backend": "backend {operation} (CPU/request)",
    "adapter": "via Adapter, no middleware",
    "empty": "via Adapter, empty middleware",
    "metered": "via Adapter, metrics middleware",
    "openai": "OpenAI SDK (for comparison)",
}


def _label(subject: str, kind: str) -> str:
    return LABELS[subject].format(operation="generate" if kind == "whole" else "stream")


def _cpu_rows(samples: dict[str, list[float]]) -> list[Measurement]:
    """The ``COMPARED`` rows whose subject was measured (the OpenAI SDK may be missing), by kind."""
    return [
        _compared(samples, kind, subject, baseline, limit)
        for kind in KINDS
        for subject, baseline, limit in COMPARED
        if f"{subject}-{kind}" in samples
    ]


def _compared(
    samples: dict[str, list[float]], kind: str, subject: str, baseline: str, limit: float | None
) -> Measurement:
    """``subject`` against ``baseline``: their medians, and the ratio within each round. The second
    raw client's limit holds either way: it is the same client, so being faster is noise too."""
    values, bases = samples[f"{subject}-{kind}"], samples[f"{baseline}-{kind}"]
    return Measurement(
        f"docker-api-cpu-{kind}",
        _label(subject, kind),
        statistics.median(values),
        _label(baseline, kind),
        statistics.median(bases),
        limit=limit,
        two_sided=subject == "raw2",
        round_ratios=tuple(value / base if base else float("inf") for value, base in zip(values, bases, strict=True)),
    )


# -- project calls per request --------------------------------------------------------------------

PROFILED_SUBJECTS = ("adapter", "backend")


@dataclass(frozen=True)
class ProjectCalls:
    """Project frame entries in one subject's request."""

    per_request: float
    """Entries into project functions per request (calls and coroutine resumptions)."""
    functions: int
    """Distinct project functions entered."""
    top: list[tuple[str, float]]
    """The ``TOP`` most entered, as ``(file:line name, entries per request)``."""
    roots: set[str]
    """The directories the project files ran from (an editable install may point elsewhere)."""


def _project_calls(func: Call, loop: asyncio.AbstractEventLoop, count: int = PROFILED) -> ProjectCalls:
    """Count the profiler's "call" events in project code over ``count`` requests of ``func``."""
    counts = _entries(func, loop, count)
    project: Counter[CodeType] = Counter()
    roots: set[str] = set()
    for code, entries in counts.items():
        if (where := _project_file(code.co_filename)) is not None:
            project[code] = entries
            roots.add(where[0])
    top = [(_describe(code), entries / count) for code, entries in project.most_common(TOP)]
    return ProjectCalls(sum(project.values()) / count, len(project), top, roots)


def _entries(func: Call, loop: asyncio.AbstractEventLoop, count: int) -> Counter[CodeType]:
    """Profiler "call" events per code object while ``count`` requests of ``func`` run."""
    counts: Counter[CodeType] = Counter()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            counts[frame.f_code] += 1

    sys.setprofile(profile)
    try:
        for _ in range(count):
            loop.run_until_complete(func())
    finally:
        sys.setprofile(None)
    return counts


def _project_file(filename: str) -> tuple[str, str] | None:
    """``filename``'s ``ultra_llm`` or ``plugins`` directory and its path from that directory's
    parent on, or ``None`` when it is not project code (installed packages, the standard library)."""
    parts = Path(filename).parts
    if "site-packages" in parts:
        return None
    for index, part in enumerate(parts):
        if part in ("ultra_llm", "plugins"):
            return str(Path(*parts[: index + 1])), "/".join(parts[index:])
    return None


def _describe(code: CodeType) -> str:
    """``file:line qualified.name``, marked when its entries include resumptions."""
    where = _project_file(code.co_filename)
    path = where[1] if where else code.co_filename
    resumable = code.co_flags & (inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_GENERATOR)
    return f"{path}:{code.co_firstlineno} {code.co_qualname}{' [resumes]' if resumable else ''}"


def _report_calls(calls: dict[str, ProjectCalls]) -> None:
    """Say where the project code ran from; with ``ULTRA_LLM_BENCH_PROFILE=1``, print the adapter's
    ``TOP`` most entered project functions for each kind."""
    roots = sorted(set().union(*(c.roots for c in calls.values())))
    print(f"docker-api-cpu: project code counted from {', '.join(roots)}")
    if os.environ.get("ULTRA_LLM_BENCH_PROFILE") != "1":
        return
    for kind in KINDS:
        adapter = calls[f"adapter-{kind}"]
        print(
            f"docker-api-cpu-{kind}: via Adapter, {adapter.per_request:.0f} project entries per request in "
            f"{adapter.functions} functions; the {TOP} most entered (per request):"
        )
        for where, entries in adapter.top:
            print(f"  {entries:7.1f}  {where}")


def _call_rows(calls: dict[str, ProjectCalls]) -> list[Measurement]:
    """Project calls and functions per request through the adapter against the backend alone (no limit)."""
    rows = []
    for kind in KINDS:
        adapter, backend = calls[f"adapter-{kind}"], calls[f"backend-{kind}"]
        rows += [
            Measurement(
                f"docker-api-cpu-{kind}",
                "via Adapter: project calls",
                adapter.per_request,
                "backend: project calls",
                backend.per_request,
                unit="calls",
            ),
            Measurement(
                f"docker-api-cpu-{kind}",
                "via Adapter: project functions",
                float(adapter.functions),
                "backend: project functions",
                float(backend.functions),
                unit="fns",
            ),
        ]
    return rows


@case("docker-api-256-streams")
def concurrent_streams() -> list[Measurement]:
    if missing := _missing():
        print(f"docker-api-256-streams: skipped ({missing})")
        return []
    from ultra_llm_docker_api.backend import DockerAPIBackend
    from ultra_llm_docker_api.options import DockerAPIOptions
    from ultra_llm_docker_api.settings import DockerAPISettings

    from ultra_llm import load_config
    from ultra_llm._types import to_messages
    from ultra_llm.plugin import GenerationRequest

    with engine() as process:
        backend = DockerAPIBackend(load_config(), settings=DockerAPISettings.load(url=process.url))
        options = DockerAPIOptions(temperature=0, max_tokens=8)

        async def one(index: int) -> str:
            request = GenerationRequest(
                "ai/tiny",
                to_messages(f"stream number {index}"),
                options,
                "docker-api",
                options.model_dump(exclude_none=True),
            )
            chunks = [chunk async for chunk in backend.stream(request)]
            # llama-server sends the usage in a chunk after the one with the finish reason
            if not any(chunk.finish_reason for chunk in chunks):
                raise AssertionError(f"stream {index} ended without a finish reason")
            return "".join(c.text for c in chunks)

        async def all_streams() -> list[Any]:
            try:
                return await asyncio.gather(*(one(i) for i in range(256)), return_exceptions=True)
            finally:
                await backend.aclose()

        tracemalloc.start()
        started = time.perf_counter()
        results = asyncio.run(all_streams())
        wall = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    errors = [r for r in results if isinstance(r, BaseException)]
    print(
        f"docker-api-256-streams: {len(results) - len(errors)}/256 complete, {len(errors)} errors, "
        f"{wall:.1f} s wall, Python heap peak {peak / 1024 / 1024:.1f} MiB"
    )
    for error in errors[:3]:
        print(f"  error: {type(error).__name__}: {error}")
    limit_mib = 64.0
    return [
        Measurement(
            "docker-api-256-streams",
            "errors (must be 0)",
            float(len(errors)),
            "streams",
            256.0,
            unit="count",
            limit=0.0,
        ),
        Measurement(
            "docker-api-256-streams", "heap peak MiB", peak / 1024 / 1024, "limit MiB", limit_mib, unit="MiB", limit=1.0
        ),
    ]
