"""ultra-llm: local LLMs for Python applications through Docker Model Runner, on pluggy.

The public API. Importing this package is cheap: the heavy parts (settings, adapters, backends)
load on first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    BackendNotFoundError,
    BackendUnavailableError,
    BadRequestError,
    ConfigurationError,
    ContextLengthExceededError,
    DockerDaemonDownError,
    DockerNotInstalledError,
    EmptyPromptError,
    GenerationError,
    GenerationTimeoutError,
    InvalidModelNameError,
    InvalidOptionsError,
    ModelNotFoundError,
    ModelRunnerNotEnabledError,
    ModelRunnerPluginMissingError,
    PluginError,
    ResponseTooLargeError,
    StreamInterruptedError,
    UltraLLMError,
    UnsafePromptError,
    UnsupportedOperationError,
)
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .adapter import Adapter, LLMAdapter
    from .backend import Backend, closing_stream, collect_result
    from .config import UltraConfig, load_config
    from .factory import create_adapter, create_adapter_sync
    from .host import PluginHost, get_host
    from .names import normalize_model_name, parse_model_reference, same_model, short_model_name
    from .types import (
        Availability,
        Chunk,
        EmbeddingRequest,
        EmbeddingResult,
        GenerationRequest,
        Message,
        ModelInfo,
        Progress,
        Result,
        Usage,
    )

__version__ = "0.2.0"

_LAZY = {
    "Availability": "types",
    "Chunk": "types",
    "EmbeddingRequest": "types",
    "EmbeddingResult": "types",
    "GenerationRequest": "types",
    "Message": "types",
    "ModelInfo": "types",
    "Progress": "types",
    "Result": "types",
    "Usage": "types",
    "Adapter": "adapter",
    "LLMAdapter": "adapter",
    "Backend": "backend",
    "closing_stream": "backend",
    "collect_result": "backend",
    "UltraConfig": "config",
    "load_config": "config",
    "create_adapter": "factory",
    "create_adapter_sync": "factory",
    "PluginHost": "host",
    "get_host": "host",
    "normalize_model_name": "names",
    "parse_model_reference": "names",
    "same_model": "names",
    "short_model_name": "names",
    "create_modelrunner_cli_adapter": "compat",
    "create_modelrunner_adapter": "compat",
    "get_available_models": "compat",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ultra_llm' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Adapter",
    "Availability",
    "Backend",
    "BackendNotFoundError",
    "BackendUnavailableError",
    "BadRequestError",
    "Chunk",
    "ConfigurationError",
    "ContextLengthExceededError",
    "DockerDaemonDownError",
    "DockerNotInstalledError",
    "EmbeddingRequest",
    "EmbeddingResult",
    "EmptyPromptError",
    "GenerationError",
    "GenerationRequest",
    "GenerationTimeoutError",
    "InvalidModelNameError",
    "InvalidOptionsError",
    "LLMAdapter",
    "Message",
    "ModelInfo",
    "ModelNotFoundError",
    "ModelRunnerNotEnabledError",
    "ModelRunnerPluginMissingError",
    "PluginError",
    "PluginHost",
    "Progress",
    "ResponseTooLargeError",
    "Result",
    "StreamInterruptedError",
    "UltraConfig",
    "UltraLLMError",
    "UnsafePromptError",
    "UnsupportedOperationError",
    "Usage",
    "closing_stream",
    "collect_result",
    "create_adapter",
    "create_adapter_sync",
    "create_modelrunner_adapter",
    "create_modelrunner_cli_adapter",
    "get_available_models",
    "get_host",
    "hookimpl",
    "load_config",
    "normalize_model_name",
    "parse_model_reference",
    "same_model",
    "short_model_name",
]
