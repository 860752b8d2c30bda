"""Optional capabilities of a backend, each a small ``typing.Protocol``.

A backend has a capability by implementing its methods, nothing more: no flag to keep in step. The
host finds it with ``issubclass`` on the registered class (every member is a method, so no instance
is made), and a caller asking a backend that lacks it gets one typed refusal (``refusal``).

- ``ModelStore``: download and delete models (``pull``, ``remove``);
- ``LoadedModels``: the models a server holds in memory (list, preload, unload, configure, disk use);
- ``Embedder``: vectors for texts (``embed``).

Loading and unloading are not one server's idea: Ollama and llama-server's router mode do it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import UnsupportedOperationError

if TYPE_CHECKING:
    from ._lifecycle import DiskUsage, ModelSettings, RunningModel
    from ._types import EmbeddingRequest, EmbeddingResult, ProgressCallback

__all__ = [
    "CAPABILITIES",
    "Capability",
    "Embedder",
    "LoadedModels",
    "ModelStore",
    "Placement",
    "capabilities_of",
    "refusal",
    "signature_mismatches",
]


@runtime_checkable
class ModelStore(Protocol):
    """A backend that keeps models locally: it downloads and deletes them."""

    async def pull(self, model: str, progress: ProgressCallback | None = None) -> None:
        """Download ``model``, reporting ``Progress`` to ``progress`` as it goes."""
        ...

    async def remove(self, model: str) -> None:
        """Delete the local copy of ``model``; ``ModelNotFoundError`` when there is none."""
        ...


@runtime_checkable
class LoadedModels(Protocol):
    """A backend whose server loads models into memory and unloads them (``ultra-llm ps``)."""

    async def running_models(self) -> list[RunningModel]:
        """The models loaded now, with their engine, mode and when each is unloaded."""
        ...

    async def preload(self, model: str) -> None:
        """Load ``model`` without generating."""
        ...

    async def unload(self, models: Sequence[str] = (), *, all: bool = False) -> int:
        """Unload ``models`` (or every model with ``all``); how many were unloaded."""
        ...

    @classmethod
    def check_settings(cls, settings: ModelSettings) -> ModelSettings:
        """``settings`` as this server takes them (normalised), or ``InvalidOptionsError`` naming the value
        it refuses (a keep-alive in another grammar). A classmethod, no I/O: the CLI calls it before
        any server is asked, the adapter before it unloads or configures anything."""
        ...

    async def configure(self, model: str, settings: ModelSettings) -> None:
        """Change ``model``'s runtime settings; ``ModelLoadedError`` when the server refuses because the
        model is busy. Never unload on the caller's behalf."""
        ...

    async def disk_usage(self) -> DiskUsage:
        """What the models take on disk (``ultra-llm df``)."""
        ...


@runtime_checkable
class Placement(Protocol):
    """A backend that knows which of its servers answers each model, and what each has loaded."""

    async def placement(self, models: Sequence[str]) -> list[list[str]]:
        """``models`` (canonical names) grouped by the server that will answer them, each group in the
        order to run it (the loaded ones first); every model in exactly one group. A fan-out runs the
        groups side by side and a group's models a few at a time (``ULTRA_LLM_MODELS_HELD``)."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """A backend that turns texts into vectors."""

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """One vector per input of ``request``, in order."""
        ...


Capability = type[ModelStore] | type[LoadedModels] | type[Embedder]

CAPABILITIES: dict[str, Capability] = {"store": ModelStore, "lifecycle": LoadedModels, "embeddings": Embedder}
"""Each optional capability by its name in ``Backend.capabilities()`` (the web API, ``ultra-llm backends``)."""

_WHAT = {ModelStore: "keep models (pull, remove)", LoadedModels: "manage loaded models", Embedder: "embed texts"}


def capabilities_of(cls: type) -> dict[str, bool]:
    """Which optional capabilities the backend class ``cls`` implements, by name; no instance is made."""
    return {name: issubclass(cls, protocol) for name, protocol in CAPABILITIES.items()}


def refusal(backend: str, protocol: Capability, asked: str) -> UnsupportedOperationError:
    """The one typed refusal for asking backend ``backend`` to ``asked`` without ``protocol``."""
    return UnsupportedOperationError(
        f"Backend '{backend}' cannot {asked}: it does not {_WHAT[protocol]}.",
        fix="Select a backend that does (`-b NAME`, ULTRA_LLM_BACKEND): `ultra-llm backends --json` shows "
        "each one's capabilities.",
        backend=backend,
    )


def signature_mismatches(cls: type, protocol: Capability) -> list[str]:
    """How ``cls``'s methods differ from ``protocol``'s: a missing or non-``async`` method (a plain
    ``@classmethod`` where the Protocol has one), or a parameter of the Protocol's that is missing or of
    another kind. Extra parameters with defaults are allowed (a backend may take more, e.g.
    ``remove(model, *, force=False)``)."""
    import inspect

    problems: list[str] = []
    for member, declared in vars(protocol).items():
        if isinstance(declared, classmethod):
            raw = inspect.getattr_static(cls, member, None)
            if not isinstance(raw, classmethod) or inspect.iscoroutinefunction(raw.__func__):
                problems.append(f"{member} is not a plain `@classmethod` (it is called on the class, before any I/O)")
                continue
        elif not inspect.iscoroutinefunction(declared):
            continue
        elif not inspect.iscoroutinefunction(getattr(cls, member, None)):
            problems.append(f"{member} is not an `async def` method")
            continue
        problems.extend(_parameter_mismatches(member, getattr(protocol, member), getattr(cls, member)))
    return problems


def _parameter_mismatches(member: str, expected: Callable[..., Any], found: Callable[..., Any]) -> list[str]:
    import inspect

    problems: list[str] = []
    want = inspect.signature(expected).parameters
    have = inspect.signature(found).parameters
    for name, param in want.items():
        if name not in have or have[name].kind != param.kind:
            problems.append(f"{member} lacks parameter {name!r} ({param.kind.description})")
        elif param.default is not inspect.Parameter.empty and have[name].default is inspect.Parameter.empty:
            problems.append(f"{member}'s {name!r} needs a default")
    for name, param in have.items():
        extra = name not in want and param.default is inspect.Parameter.empty
        if extra and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            problems.append(f"{member} requires parameter {name!r}, which callers do not pass")
    return problems
