"""Test plugins: stand-in backends for selection tests, a backend that manages loaded models, and
deliberately broken plugins.

``install_distribution`` writes a real ``*.dist-info`` with an ``ultra_llm`` entry point into a
directory on ``sys.path``, so ``importlib.metadata`` discovers it exactly as a pip-installed plugin.
``install_keeper`` installs the ``keeper`` backend below that way, for a child process.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ultra_llm import Chunk, ModelInfo
from ultra_llm._lifecycle import DiskUsage, ModelSettings, RunningModel
from ultra_llm.errors import BackendUnavailableError, InvalidModelNameError, InvalidOptionsError, ModelLoadedError
from ultra_llm.plugin import Availability, Backend, GenerationRequest, hookimpl

OFFLINE = "The offline server does not answer."
"""The message of the error the ``offline`` stand-in raises (and reports from its availability check)."""
OFFLINE_FIX = "Start the offline server."


def offline_error(backend: str) -> BackendUnavailableError:
    return BackendUnavailableError(OFFLINE, fix=OFFLINE_FIX, backend=backend)


class OfflineBackend(Backend):
    """Stands in for a backend whose server is down (its availability check says so)."""

    name: ClassVar[str] = "offline"

    async def check_availability(self) -> Availability:
        return Availability(False, error=offline_error(self.name))

    async def list_models(self) -> list[ModelInfo]:
        raise offline_error(self.name)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        raise offline_error(self.name)
        yield Chunk("")  # pragma: no cover - makes this an async generator


class OnlineBackend(OfflineBackend):
    """Stands in for a working backend: answers with the prompt reversed."""

    name: ClassVar[str] = "online"

    async def check_availability(self) -> Availability:
        return Availability(True, "up")

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("lab/small:latest", self.name)]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        for char in reversed(request.prompt):
            yield Chunk(char)


class ServerStandIns:
    """A plugin registering both stand-ins, each with aliases."""

    @hookimpl
    def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
        register("offline", OfflineBackend, summary="down", aliases=["off"])
        register("online", OnlineBackend, summary="up", aliases=["on", "on-alias"])


# -- a backend that manages loaded models (``ultra_llm._capabilities.LoadedModels``) -----------------

KEEPER_MODEL = "lab/tiny:latest"
KEEPER_CONTEXT = 2048
"""The context window a model is served with until ``configure`` sets another."""
_KEEP_ALIVE = re.compile(r"^(?:0|-1|-?(?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+)$")
"""A keep-alive in the keeper's grammar: 0, -1 or a duration with units (5m, 1h30m)."""


@dataclass
class Held:
    """A model loaded in the keeper's memory; ``busy`` counts the requests it serves."""

    busy: int = 0


@dataclass
class KeeperState:
    """What the keeper's server holds: models on disk (name -> bytes), models loaded, each model's
    settings, and the calls that change something (``preload``, ``unload``, ``configure``), in order."""

    local: dict[str, int] = field(default_factory=lambda: {KEEPER_MODEL: 300_000_000})
    loaded: dict[str, Held] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    engine_disk_usage: int = 123_456_789
    available: bool = True

    def add_local(self, name: str, size: int = 100_000_000) -> None:
        self.local[KeeperBackend.canonical(name)] = size

    def hold(self, name: str, busy: bool = True) -> None:
        """Load ``name`` and count one request in flight on it (``busy``), or end that request."""
        held = self.loaded.setdefault(KeeperBackend.canonical(name), Held())
        held.busy = max(0, held.busy + (1 if busy else -1))


class KeeperBackend(Backend):
    """A server that keeps models loaded: ``ps``, ``preload``, ``unload``, ``configure``, ``df``.

    Short names get a namespace and a tag (``tiny`` -> ``lab/tiny:latest``); a name starting with
    ``-`` or holding white space is refused. ``configure`` refuses a model serving a request
    (``ModelLoadedError``: an idle one is unloaded first, as a model server does), and loads the model
    again with its new settings; ``unload`` leaves models serving a request loaded. Its state is the
    class's ``state`` (a test replaces it)."""

    name: ClassVar[str] = "keeper"
    default_model: ClassVar[str] = KEEPER_MODEL
    state: ClassVar[KeeperState] = KeeperState()

    @staticmethod
    def canonical(name: str) -> str:
        name = name.strip()
        if not name or name.startswith("-") or any(char.isspace() for char in name):
            raise InvalidModelNameError(f"{name!r} is not a valid model name.", fix="Name it like lab/tiny.")
        if "/" not in name:
            name = f"lab/{name}"
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    def canonical_model(self, name: str) -> str:
        return self.canonical(name)

    async def check_availability(self) -> Availability:
        if not self.state.available:
            return Availability(False, error=BackendUnavailableError("The keeper is down.", backend=self.name))
        return Availability(True, "up")

    async def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                name, self.name, context_window=self.state.configs.get(name, {}).get("context_size", KEEPER_CONTEXT)
            )
            for name in self.state.local
        ]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("kept")

    async def running_models(self) -> list[RunningModel]:
        return [
            RunningModel(
                name,
                self.name,
                engine="test-engine",
                mode="completion",
                until="in use" if held.busy else "5 minutes from now",
                in_use=bool(held.busy),
            )
            for name, held in self.state.loaded.items()
        ]

    async def preload(self, model: str) -> None:
        self.state.calls.append("preload")
        self.state.loaded.setdefault(model, Held())

    async def unload(self, models: Sequence[str] = (), *, all: bool = False) -> int:
        self.state.calls.append("unload")
        if all:
            self.state.configs.clear()
        names = list(self.state.loaded) if all else list(models)
        doomed = [name for name in names if name in self.state.loaded and not self.state.loaded[name].busy]
        for name in doomed:
            del self.state.loaded[name]
        return len(doomed)

    @classmethod
    def check_settings(cls, settings: ModelSettings) -> ModelSettings:
        keep = settings.keep_alive
        if keep is not None and not _KEEP_ALIVE.match(keep):
            raise InvalidOptionsError(f"Keep-alive {keep!r} is not a duration.", fix="Give one such as 5m or 1h30m.")
        return settings

    async def configure(self, model: str, settings: ModelSettings) -> None:
        self.state.calls.append("configure")
        wanted = {
            key: value
            for key, value in (
                ("context_size", settings.context_size),
                ("keep_alive", settings.keep_alive),
                ("think", settings.think),
            )
            if value is not None
        }
        if self.state.configs.get(model) != wanted:
            held = self.state.loaded.get(model)
            if held is not None and not held.busy:
                del self.state.loaded[model]  # an idle model goes, to load again with the new settings
            if model in self.state.loaded:
                raise ModelLoadedError(model, backend=self.name)
            self.state.configs[model] = wanted
        if model in self.state.local:
            self.state.loaded.setdefault(model, Held())

    async def disk_usage(self) -> DiskUsage:
        return DiskUsage(
            self.name, models_bytes=sum(self.state.local.values()), engine_bytes=self.state.engine_disk_usage
        )


class KeeperPlugin:
    """Registers ``KeeperBackend`` as ``keeper``."""

    @hookimpl
    def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
        register("keeper", KeeperBackend)


def install_keeper(site: Path, *, loaded: Sequence[str] = ()) -> str:
    """Install the ``keeper`` backend as a distribution in ``site`` (this file, loaded by its path),
    with ``loaded`` models loaded (names as given, not canonicalised); return the dist name."""
    source = f"""
        import importlib.util
        import sys

        from ultra_llm.plugin import hookimpl

        _spec = importlib.util.spec_from_file_location("ultra_llm_test_keeper_impl", {str(Path(__file__).resolve())!r})
        _module = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_module)
        for _name in {list(loaded)!r}:
            _module.KeeperBackend.state.loaded[_name] = _module.Held()


        @hookimpl
        def ultra_llm_register_backends(register):
            register("keeper", _module.KeeperBackend)
        """
    return install_distribution(site, "keeper_plugin", textwrap.dedent(source))


BROKEN_PLUGINS = {
    "raises_at_import": "raise RuntimeError('boom at import')\n",
    "misnamed_hook": textwrap.dedent(
        """
        from ultra_llm.plugin import hookimpl

        @hookimpl
        def ultra_llm_register_backend(register):  # misspelt: no trailing s
            pass
        """
    ),
    "raises_in_register": textwrap.dedent(
        """
        from ultra_llm.plugin import hookimpl

        @hookimpl
        def ultra_llm_register_backends(register):
            raise ValueError('boom in register')
        """
    ),
}


def install_distribution(site: Path, module: str, source: str, *, entry_name: str | None = None) -> str:
    """Write module ``module`` and a dist-info declaring it as an ``ultra_llm`` plugin; return the dist name."""
    dist = f"ultra-llm-test-{module.replace('_', '-')}"
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[ultra_llm]\n{entry_name or module} = {module}\n")
    return dist
