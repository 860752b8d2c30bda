"""Everything a plugin author imports, in one module: ``from ultra_llm.plugin import hookimpl, Backend``.

- ``hookimpl``: marks the hook implementations (the hooks: docs/hooks.md);
- ``Backend`` (subclass it), ``collect_result``, ``closing_stream``, and ``UltraConfig``, the
  configuration a backend is made with;
- ``Deadline`` (on each request) and ``current_deadline()`` (for calls that take none): the
  call's deadline, which a backend sizes its waits by and tells when the answer begins;
- the optional capabilities a backend implements as well: ``ModelStore`` (pull, remove),
  ``LoadedModels`` (the models loaded in memory), ``Embedder`` (embeddings), ``Placement`` (which
  server answers each model, for fan-outs);
- the registrars the registration hooks receive: ``BackendRegistrar``, ``ModelRegistrar``,
  ``SettingsRegistrar``;
- ``Middleware``, the base of what ``ultra_llm_middleware`` returns, and the types of its
  ``call_next``: ``GenerateNext``, ``StreamNext``, ``EmbedNext``;
- ``Settings``, ``setting``, ``Alias``, ``Secret``: a backend's or plugin's environment variables
  (``FALSE_WORDS``: the words a boolean setting reads as off);
- the value types that cross the boundary (``GenerationRequest``, ``Chunk``, ``Result`` ...), and
  loaded models' (``RunningModel``, ``DiskUsage``, ``ModelSettings``);
- the kernel's bounds a backend applies to what it reads: ``json_loads``/``json_dumps`` (JSON nested at
  most ``MAX_JSON_DEPTH`` deep, else ``JSONDepthError``), ``check_schema_shape`` (a JSON schema's
  shape), ``preview`` (a value quoted short in a message), ``redact_urls``/``redact_logger`` (no
  credentials in messages and log lines);
- for a plugin's ``ultra_llm_register_commands``: ``command_adapter`` (the adapter a command works
  on), ``run_async``, ``handle_errors`` (a typed error as one line and its exit status),
  ``echo_json``, ``echo_table``.

The errors a backend raises live in ``ultra_llm.errors``. Importing this module is cheap: only
``hookimpl`` loads at once, the rest on first use, so an entry-point module that imports it adds
nothing to start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._hookspecs import hookimpl

if TYPE_CHECKING:
    from ._backend import Backend, closing_stream, collect_result
    from ._capabilities import Embedder, LoadedModels, ModelStore, Placement
    from ._cli.context import command_adapter, handle_errors, run_async
    from ._cli.output import echo_json, echo_table
    from ._config import UltraConfig
    from ._deadline import current_deadline
    from ._json_depth import MAX_JSON_DEPTH, JSONDepthError, json_dumps, json_loads
    from ._lifecycle import DiskUsage, ModelSettings, RunningModel
    from ._middleware import EmbedNext, GenerateNext, Middleware, StreamNext
    from ._redact import redact_logger, redact_urls
    from ._registry import BackendRegistrar, ModelRegistrar, SettingsRegistrar
    from ._schema_shape import check_schema_shape
    from ._settings import FALSE_WORDS, Alias, Secret, SettingRow, Settings, setting
    from ._text import preview
    from ._types import (
        Availability,
        Check,
        Choice,
        Chunk,
        Deadline,
        EmbeddingRequest,
        EmbeddingResult,
        Fallback,
        GenerationRequest,
        ImagePart,
        Message,
        ModelInfo,
        Progress,
        ProgressCallback,
        ResponseFormat,
        Result,
        TextPart,
        TokenLogprob,
        Tool,
        ToolCall,
        ToolCallDelta,
        Usage,
    )

_LAZY = {
    "SettingRow": "_settings",
    "Backend": "_backend",
    "closing_stream": "_backend",
    "collect_result": "_backend",
    "current_deadline": "_deadline",
    "command_adapter": "_cli.context",
    "handle_errors": "_cli.context",
    "run_async": "_cli.context",
    "echo_json": "_cli.output",
    "echo_table": "_cli.output",
    "UltraConfig": "_config",
    "MAX_JSON_DEPTH": "_json_depth",
    "JSONDepthError": "_json_depth",
    "json_dumps": "_json_depth",
    "json_loads": "_json_depth",
    "redact_logger": "_redact",
    "redact_urls": "_redact",
    "check_schema_shape": "_schema_shape",
    "preview": "_text",
    "FALSE_WORDS": "_settings",
    "EmbedNext": "_middleware",
    "GenerateNext": "_middleware",
    "Middleware": "_middleware",
    "StreamNext": "_middleware",
    "Embedder": "_capabilities",
    "LoadedModels": "_capabilities",
    "Placement": "_capabilities",
    "ModelStore": "_capabilities",
    "DiskUsage": "_lifecycle",
    "ModelSettings": "_lifecycle",
    "RunningModel": "_lifecycle",
    "BackendRegistrar": "_registry",
    "ModelRegistrar": "_registry",
    "SettingsRegistrar": "_registry",
    "Alias": "_settings",
    "Secret": "_settings",
    "Settings": "_settings",
    "setting": "_settings",
    **dict.fromkeys(
        (
            "Availability",
            "Check",
            "Choice",
            "Chunk",
            "Deadline",
            "EmbeddingRequest",
            "EmbeddingResult",
            "Fallback",
            "GenerationRequest",
            "ImagePart",
            "Message",
            "ModelInfo",
            "Progress",
            "ProgressCallback",
            "ResponseFormat",
            "Result",
            "TextPart",
            "TokenLogprob",
            "Tool",
            "ToolCall",
            "ToolCallDelta",
            "Usage",
        ),
        "_types",
    ),
}

__all__ = [
    "Alias",
    "Availability",
    "Backend",
    "BackendRegistrar",
    "Check",
    "Choice",
    "Chunk",
    "Deadline",
    "DiskUsage",
    "EmbedNext",
    "Embedder",
    "EmbeddingRequest",
    "EmbeddingResult",
    "Fallback",
    "FALSE_WORDS",
    "GenerateNext",
    "GenerationRequest",
    "ImagePart",
    "JSONDepthError",
    "LoadedModels",
    "MAX_JSON_DEPTH",
    "Message",
    "Middleware",
    "ModelInfo",
    "ModelRegistrar",
    "ModelSettings",
    "ModelStore",
    "Placement",
    "Progress",
    "ProgressCallback",
    "ResponseFormat",
    "Result",
    "RunningModel",
    "Secret",
    "SettingRow",
    "Settings",
    "SettingsRegistrar",
    "StreamNext",
    "TextPart",
    "TokenLogprob",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "UltraConfig",
    "Usage",
    "check_schema_shape",
    "closing_stream",
    "collect_result",
    "command_adapter",
    "current_deadline",
    "echo_json",
    "echo_table",
    "handle_errors",
    "hookimpl",
    "json_dumps",
    "json_loads",
    "preview",
    "redact_logger",
    "redact_urls",
    "run_async",
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
