"""ultra-llm: local LLMs for Python applications through pluggable backends, on pluggy.

The application-facing API, about twenty names: make an adapter (``create_adapter``, or
``create_adapter_sync`` without an event loop), call it, read ``Result``/``Chunk``. The seed's
names (``create_modelrunner_adapter`` ...) are here too, from ``ultra_llm.compat``. Errors are in
``ultra_llm.errors`` (``UltraLLMError`` is their root, re-exported here); plugin authors import
from ``ultra_llm.plugin``. Importing this package is cheap: everything loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import UltraLLMError

if TYPE_CHECKING:
    from .adapter import Adapter, LLMAdapter
    from .compat import create_modelrunner_adapter, create_modelrunner_cli_adapter, get_available_models
    from .config import UltraConfig, load_config
    from .factory import create_adapter, create_adapter_sync
    from .host import PluginHost, get_host
    from .sync import SyncAdapter
    from .types import Chunk, EmbeddingResult, ImagePart, Message, ModelInfo, Result, Usage

__version__ = "0.3.0"

_LAZY = {
    "Adapter": "adapter",
    "LLMAdapter": "adapter",
    "SyncAdapter": "sync",
    "create_adapter": "factory",
    "create_adapter_sync": "factory",
    "UltraConfig": "config",
    "load_config": "config",
    "PluginHost": "host",
    "get_host": "host",
    "Chunk": "types",
    "EmbeddingResult": "types",
    "ImagePart": "types",
    "Message": "types",
    "ModelInfo": "types",
    "Result": "types",
    "Usage": "types",
    "create_modelrunner_adapter": "compat",
    "create_modelrunner_cli_adapter": "compat",
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
    "Chunk",
    "EmbeddingResult",
    "ImagePart",
    "LLMAdapter",
    "Message",
    "ModelInfo",
    "PluginHost",
    "Result",
    "SyncAdapter",
    "UltraConfig",
    "UltraLLMError",
    "Usage",
    "__version__",
    "create_adapter",
    "create_adapter_sync",
    "create_modelrunner_adapter",
    "create_modelrunner_cli_adapter",
    "get_available_models",
    "get_host",
    "load_config",
]
