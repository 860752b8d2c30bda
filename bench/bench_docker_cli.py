"""The docker-cli backend against the docker double (issue 3's performance section).

* ``docker-cli-overhead``: one whole ``generate`` through the backend against launching the same
  double with a bare ``subprocess.run`` (prompt on stdin) in the same run. Limit: 1.10x.
* ``docker-cli-first-chunk``: from the double's write of the first token (its timestamp log,
  ``time.monotonic_ns``) to the caller receiving the first chunk. Limit: 5 ms.
* ``docker-cli-64-streams``: 64 concurrent streams through the bounded pool (default size) all
  complete with the right text.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .runner import Measurement, case, measure

if TYPE_CHECKING:
    from ultra_llm_docker.testing.double.fixtures import DockerDouble
    from ultra_llm_docker_cli.backend import DockerCLIBackend

    from ultra_llm.plugin import GenerationRequest

PROMPT = "Tell me about benchmarks in five words please"


@contextmanager
def double() -> Iterator[DockerDouble]:
    """Install the docker double first on PATH for this process; restore the environment after."""
    from ultra_llm_docker.testing.double.fixtures import install_double

    saved = {k: os.environ.get(k) for k in ("PATH", "FAKE_DOCKER_STATE")}
    with tempfile.TemporaryDirectory(prefix="bench-docker-cli-") as tmp:
        installed = install_double(Path(tmp))
        os.environ["PATH"] = str(installed.bin_dir) + os.pathsep + os.environ.get("PATH", "")
        os.environ["FAKE_DOCKER_STATE"] = str(installed.state_path)
        try:
            yield installed
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _backend() -> DockerCLIBackend:
    from ultra_llm_docker_cli.backend import DockerCLIBackend

    from ultra_llm import load_config

    return DockerCLIBackend(load_config())


def _request(prompt: str = PROMPT) -> GenerationRequest:
    from ultra_llm._types import to_messages
    from ultra_llm.plugin import GenerationRequest

    return GenerationRequest("ai/smollm2", to_messages(prompt), None, "docker-cli")


@case("docker-cli-overhead")
def overhead() -> list[Measurement]:
    with double() as installed:
        docker = installed.docker
        backend = _backend()
        loop = asyncio.new_event_loop()
        try:

            def through_backend() -> None:
                loop.run_until_complete(backend.generate(_request()))

            def bare() -> None:
                subprocess.run([docker, "model", "run", "ai/smollm2"], input=PROMPT.encode(), capture_output=True)

            # interleave the two, several rounds, so drift on a busy machine hits both alike
            subject, baseline = [], []
            for _ in range(5):
                baseline.append(measure(bare, repeat=7))
                subject.append(measure(through_backend, repeat=7))
        finally:
            loop.close()
    return [
        Measurement(
            "docker-cli-overhead",
            "backend.generate (docker double)",
            statistics.median(subject),
            "bare subprocess.run of the double",
            statistics.median(baseline),
            limit=1.10,
        )
    ]


@case("docker-cli-first-chunk")
def first_chunk() -> list[Measurement]:
    with double() as installed:
        installed.set(first_token_delay=0.05)
        installed.enable_timestamps()
        backend = _backend()
        latencies: list[float] = []

        async def one() -> None:
            log = installed.timestamp_log
            if log.exists():
                log.unlink()
            stream = backend.stream(_request())
            first = await stream.__anext__()
            received = time.monotonic_ns()
            assert first.text
            async for _ in stream:
                pass
            written = installed.timestamps()[0][0]
            latencies.append((received - written) / 1e6)

        loop = asyncio.new_event_loop()
        try:
            # the first stream checks presence with `docker model list`, whose output would be the
            # first write in the timestamp log: list once before measuring
            loop.run_until_complete(backend.list_models())
            for _ in range(30):
                loop.run_until_complete(one())
        finally:
            loop.close()
    return [
        Measurement(
            "docker-cli-first-chunk",
            "first chunk after the double wrote it",
            statistics.median(latencies),
            "limit (5 ms)",
            5.0,
            limit=1.0,
        ),
        Measurement(
            "docker-cli-first-chunk",
            "the same, worst of 30",
            max(latencies),
            "limit (5 ms)",
            5.0,
        ),
    ]


@case("docker-cli-64-streams")
def streams_64() -> list[Measurement]:
    with double() as installed:
        installed.set(token_delay=0.002)
        backend = _backend()

        async def one(i: int) -> bool:
            prompt = f"stream number {i}"
            text = "".join([c.text async for c in backend.stream(_request(prompt))])
            return text == installed.expected_answer(prompt, "ai/smollm2")

        async def all_of_them() -> int:
            return sum(await asyncio.gather(*(one(i) for i in range(64))))

        start = time.perf_counter()
        completed = asyncio.run(all_of_them())
        wall = (time.perf_counter() - start) * 1000
    return [
        Measurement(
            "docker-cli-64-streams",
            f"streams complete and correct ({wall:.0f} ms)",
            float(completed),
            "streams started",
            64.0,
            unit="  ",
            limit=1.0,
            higher_is_better=True,
        )
    ]
