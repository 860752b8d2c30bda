"""Optional capabilities as Protocols: found on the class, refused the one neutral way, and a fallback
that serves but never manages in the place of the backend it stands in for (issue "Kernel (1/5)")."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.core.plugins import OFFLINE, ServerStandIns, install_distribution
from ultra_llm import create_adapter
from ultra_llm._capabilities import Embedder, LoadedModels, ModelStore, signature_mismatches
from ultra_llm._host import PluginHost
from ultra_llm._lifecycle import DiskUsage, ModelSettings, RunningModel
from ultra_llm.errors import BackendUnavailableError, UnsupportedOperationError
from ultra_llm.plugin import Availability, Backend, Chunk, GenerationRequest, ModelInfo

CONSOLE_SCRIPT = Path(sys.executable).with_name("ultra-llm")

BACKENDS = textwrap.dedent(
    '''
    from collections.abc import Sequence
    from ultra_llm._lifecycle import DiskUsage, RunningModel
    from ultra_llm.plugin import Availability, Backend, Chunk, ModelInfo, hookimpl


    class Plain(Backend):
        """Inference only: no store, no loaded models, no embeddings."""

        name = "plain"
        default_model = "m1"

        async def check_availability(self):
            return Availability(True, "up")

        async def list_models(self):
            return [ModelInfo("m1", self.name)]

        async def stream(self, request):
            yield Chunk("plain answer")


    class LoadedOnly(Plain):
        """Plain, plus the loaded-models Protocol and nothing else."""

        name = "loaded-only"

        async def running_models(self):
            return [RunningModel("m1", self.name, engine="test-engine", until="Forever")]

        async def preload(self, model):
            pass

        async def unload(self, models: Sequence[str] = (), *, all: bool = False):
            return 1

        @classmethod
        def check_settings(cls, settings):
            return settings

        async def configure(self, model, settings):
            pass

        async def disk_usage(self):
            return DiskUsage(self.name, models_bytes=1)


    class Down(Plain):
        """A backend whose server is down: the stand-in serves in its place."""

        name = "down"

        async def check_availability(self):
            from ultra_llm.errors import BackendUnavailableError

            return Availability(False, error=BackendUnavailableError(
                "The down server is not running.", fix="Start the down server.", backend=self.name))


    @hookimpl
    def ultra_llm_register_backends(register):
        register("plain", Plain)
        register("loaded-only", LoadedOnly)
        register("down", Down)
    '''
)


def run_script(*args: str, site: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(site), **env},
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    install_distribution(tmp_path, "capability_backends", BACKENDS)
    return tmp_path


class Inference(Backend):
    name: ClassVar[str] = "inference"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("capabilities are read from the class: no instance is made")

    async def check_availability(self) -> Availability:
        return Availability(True)

    async def list_models(self) -> list[ModelInfo]:
        return []

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("x")


class Store(Inference):
    async def pull(self, model: str, progress: Any = None) -> None:
        pass

    async def remove(self, model: str, *, force: bool = False) -> None:
        pass


class Everything(Store):
    async def running_models(self) -> list[RunningModel]:
        return []

    async def preload(self, model: str) -> None:
        pass

    async def unload(self, models: Sequence[str] = (), *, all: bool = False) -> int:
        return 0

    @classmethod
    def check_settings(cls, settings: ModelSettings) -> ModelSettings:
        return settings

    async def configure(self, model: str, settings: ModelSettings) -> None:
        pass

    async def disk_usage(self) -> DiskUsage:
        return DiskUsage("everything")

    async def embed(self, request: Any) -> Any:
        raise AssertionError("not called")


def test_backend_has_no_lifecycle_store_or_embedding_members() -> None:
    members = {"embed", "pull", "remove", "running_models", "preload", "unload", "check_settings", "configure"}
    members |= {"disk_usage"}
    flags = {"supports_embeddings", "supports_pull", "supports_remove", "supports_lifecycle", "lifecycle_hint"}
    assert not (members | flags) & set(dir(Backend))


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (Inference, {"store": False, "lifecycle": False, "embeddings": False}),
        (Store, {"store": True, "lifecycle": False, "embeddings": False}),
        (Everything, {"store": True, "lifecycle": True, "embeddings": True}),
    ],
)
def test_capabilities_are_read_from_the_class(cls: type[Backend], expected: dict[str, bool]) -> None:
    caps = cls.capabilities()
    assert {key: caps[key] for key in expected} == expected
    assert issubclass(cls, ModelStore) is expected["store"]
    assert issubclass(cls, LoadedModels) is expected["lifecycle"]
    assert issubclass(cls, Embedder) is expected["embeddings"]


def test_signature_mismatches_name_each_difference() -> None:
    class Wrong(Inference):
        def pull(self, model: str) -> None:  # not async, and no progress
            pass

        async def remove(self, name: str) -> None:  # another parameter name
            pass

    class Demanding(Inference):
        async def embed(self, request: Any, batch: int) -> Any:  # a parameter callers never pass
            raise AssertionError

    problems = signature_mismatches(Wrong, ModelStore)
    assert problems == [
        "pull is not an `async def` method",
        "remove lacks parameter 'model' (positional or keyword)",
        "remove requires parameter 'name', which callers do not pass",
    ]
    assert signature_mismatches(Demanding, Embedder) == ["embed requires parameter 'batch', which callers do not pass"]
    assert signature_mismatches(Everything, LoadedModels) == [] and signature_mismatches(Store, ModelStore) == []


def test_check_settings_must_be_a_plain_classmethod_taking_the_settings() -> None:
    """The CLI calls ``cls.check_settings(settings)`` on the class before any server is asked."""

    class OnTheInstance(Everything):
        def check_settings(self, settings: ModelSettings) -> ModelSettings:  # type: ignore[override]
            return settings

    class Awaited(Everything):
        @classmethod
        async def check_settings(cls, settings: ModelSettings) -> ModelSettings:  # type: ignore[override]
            return settings

    class Renamed(Everything):
        @classmethod
        def check_settings(cls, wanted: ModelSettings) -> ModelSettings:  # type: ignore[override]
            return wanted

    plain = "check_settings is not a plain `@classmethod` (it is called on the class, before any I/O)"
    assert signature_mismatches(OnTheInstance, LoadedModels) == [plain]
    assert signature_mismatches(Awaited, LoadedModels) == [plain]
    assert signature_mismatches(Renamed, LoadedModels) == [
        "check_settings lacks parameter 'settings' (positional or keyword)",
        "check_settings requires parameter 'wanted', which callers do not pass",
    ]


def test_a_backend_with_only_loaded_models_gets_ps_and_the_rest_are_refused(site: Path) -> None:
    shown = run_script("ps", "-b", "loaded-only", "--json", site=site)
    assert shown.returncode == 0, shown.stderr
    assert [row["engine"] for row in json.loads(shown.stdout)] == ["test-engine"]
    pulled = run_script("pull", "-b", "loaded-only", "m1", site=site)
    assert pulled.returncode == UnsupportedOperationError.exit_code
    assert pulled.stderr.startswith("Error: Backend 'loaded-only' cannot pull models: it does not keep models")
    assert "Traceback" not in pulled.stderr


@pytest.mark.parametrize(
    ("args", "asked"),
    [
        (("ps",), "list loaded models"),
        (("unload", "--all"), "unload models"),
        (("preload", "m1"), "preload models"),
        (("df",), "report disk usage"),
        (("rm", "m1"), "remove models"),
        (("embed", "text"), "embed texts"),
    ],
)
def test_a_backend_without_the_capability_gets_the_one_neutral_refusal(
    site: Path, args: tuple[str, ...], asked: str
) -> None:
    done = run_script(*args[:1], "-b", "plain", *args[1:], site=site)
    assert done.returncode == UnsupportedOperationError.exit_code, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"Error: Backend 'plain' cannot {asked}: it does not "), first
    assert "`ultra-llm backends --json` shows each one's capabilities" in done.stderr


def test_a_fallback_serves_but_never_manages_in_place_of_the_unavailable_backend(site: Path) -> None:
    env = {"ULTRA_LLM_BACKEND": "down"}
    answered = run_script("generate", "hello", site=site, **env)
    assert answered.returncode == 0 and "mock response" in answered.stdout  # the stand-in serves
    for args in (("pull", "m1"), ("rm", "m1"), ("ps",), ("df",)):
        done = run_script(*args, site=site, **env)
        assert done.returncode == 3, (args, done.stdout, done.stderr)
        assert "The down server is not running." in done.stderr and "Start the down server." in done.stderr
        assert "Pulled" not in done.stdout and "mock" not in done.stdout


def test_a_stand_in_chosen_on_purpose_keeps_its_own_store(site: Path) -> None:
    for extra in ((), ("-b", "mock")):
        pulled = run_script("pull", *extra, "mock/echo", site=site)
        assert pulled.returncode == 0 and "Pulled mock/echo on mock" in pulled.stdout, pulled.stderr


def test_management_on_a_fallback_in_python_raises_the_requested_backends_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ULTRA_LLM_BACKEND", "off")  # the offline stand-in: its server is down
    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})
    host.register(ServerStandIns(), name="standins")

    async def run() -> list[BaseException]:
        async with await create_adapter(host=host) as adapter:
            assert adapter.name == "mock" and await adapter.generate("hi")
            errors = []
            for call in (adapter.pull("m"), adapter.remove("m"), adapter.running_models(), adapter.preload("m")):
                try:
                    await call
                except BackendUnavailableError as exc:
                    errors.append(exc)
            return errors

    errors = asyncio.run(run())
    assert len(errors) == 4 and all(type(e) is BackendUnavailableError for e in errors)
    assert all(e.message == OFFLINE and e.backend == "offline" for e in errors)  # the requested backend's own
