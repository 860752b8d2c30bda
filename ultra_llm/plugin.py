"""Everything a plugin author imports, in one module: ``from ultra_llm.plugin import hookimpl, Backend``.

- ``hookimpl``: marks the hook implementations (the hooks: ``ultra_llm.hookspecs``, docs/reference.md);
- ``Backend`` (subclass it), ``collect_result``, ``closing_stream``;
- ``Deadline`` (on each request) and ``current_deadline()`` (for calls that take none): the
  call's deadline, which a backend sizes its waits by and tells when the answer begins;
- the optional capabilities a backend implements as well: ``ModelStore`` (pull, remove),
  ``LoadedModels`` (the models loaded in memory), ``Embedder`` (embeddings);
- the registrars the registration hooks receive: ``BackendRegistrar``, ``ModelRegistrar``,
  ``SettingsRegistrar``;
- ``Middleware``, the base of what ``ultra_llm_middleware`` returns;
- ``Settings``, ``setting``, ``Alias``, ``Secret``: a backend's or plugin's environment variables;
- the value types that cross the boundary (``GenerationRequest``, ``Chunk``, ``Result`` ...), and
  loaded models' (``RunningModel``, ``DiskUsage``, ``ModelSettings``).

The errors a backend raises live in ``ultra_llm.errors``. Importing this module is cheap: only
``hookimpl`` loads at once, the rest on first use, so an entry-point module that imports it adds
nothing to start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .backend import Backend, closing_stream, collect_result
    from .capabilities import Embedder, LoadedModels, ModelStore
    from .deadline import current_deadline
    from .lifecycle import DiskUsage, ModelSettings, RunningModel
    from .middleware import Middleware
    from .registry import BackendRegistrar, ModelRegistrar, SettingsRegistrar
    from .settings import Alias, Secret, Settings, setting
    from .types import (
        Availability,
        Check,
        Chunk,
        Deadline,
        EmbeddingRequest,
        EmbeddingResult,
        GenerationRequest,
        ImagePart,
        Message,
        ModelInfo,
        Progress,
        ProgressCallback,
        ResponseFormat,
        Result,
        TextPart,
        Tool,
        ToolCall,
        ToolCallDelta,
        Usage,
    )

_LAZY = {
    "Backend": "backend",
    "closing_stream": "backend",
    "collect_result": "backend",
    "current_deadline": "deadline",
    "Middleware": "middleware",
    "Embedder": "capabilities",
    "LoadedModels": "capabilities",
    "ModelStore": "capabilities",
    "DiskUsage": "lifecycle",
    "ModelSettings": "lifecycle",
    "RunningModel": "lifecycle",
    "BackendRegistrar": "registry",
    "ModelRegistrar": "registry",
    "SettingsRegistrar": "registry",
    "Alias": "settings",
    "Secret": "settings",
    "Settings": "settings",
    "setting": "settings",
    **dict.fromkeys(
        (
            "Availability",
            "Check",
            "Chunk",
            "Deadline",
            "EmbeddingRequest",
            "EmbeddingResult",
            "GenerationRequest",
            "ImagePart",
            "Message",
            "ModelInfo",
            "Progress",
            "ProgressCallback",
            "ResponseFormat",
            "Result",
            "TextPart",
            "Tool",
            "ToolCall",
            "ToolCallDelta",
            "Usage",
        ),
        "types",
    ),
}

__all__ = [
    "Alias",
    "Availability",
    "Backend",
    "BackendRegistrar",
    "Check",
    "Chunk",
    "Deadline",
    "DiskUsage",
    "Embedder",
    "EmbeddingRequest",
    "EmbeddingResult",
    "GenerationRequest",
    "LoadedModels",
    "Message",
    "Middleware",
    "ModelInfo",
    "ModelRegistrar",
    "ModelSettings",
    "ModelStore",
    "Progress",
    "ProgressCallback",
    "Result",
    "RunningModel",
    "Secret",
    "Settings",
    "SettingsRegistrar",
    "ImagePart",
    "ResponseFormat",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "closing_stream",
    "collect_result",
    "current_deadline",
    "hookimpl",
    "setting",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ultra_llm.plugin' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __package__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """What editors complete: the public names (``__all__``), which load lazily."""
    return sorted(__all__)
