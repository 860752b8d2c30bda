"""ultra-llm: local LLMs for Python applications through pluggable backends, on pluggy.

The application-facing API, about twenty names: make an adapter (``create_adapter``, or
``create_adapter_sync`` without an event loop), call it, read ``Result``/``Chunk``. Errors are in
``ultra_llm.errors`` (``UltraLLMError`` is their root, re-exported here); plugin authors import
from ``ultra_llm.plugin``. Importing this package is cheap: everything loads on first use.

``_MOVED`` is a shim for one release: names 0.3 exported here that a plugin family now owns still
import from here, lazily, with a ``DeprecationWarning`` naming their new home; without the family
installed, an ``ImportError`` naming the package to install. It goes in ``SHIM_REMOVED_IN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import UltraLLMError

if TYPE_CHECKING:
    from ._adapter import Adapter, LLMAdapter
    from ._batch import BatchItem, BatchProgress
    from ._config import UltraConfig, load_config
    from ._factory import create_adapter, create_adapter_sync
    from ._fan_out import FanOutEvent
    from ._host import PluginHost, get_host
    from ._registry import BackendSpec
    from ._selection import Selection
    from ._sync import SyncAdapter
    from ._types import (
        Choice,
        Chunk,
        EmbeddingResult,
        Fallback,
        ImagePart,
        Message,
        ModelInfo,
        Result,
        TokenLogprob,
        Usage,
    )

__version__ = "0.4.0"

_LAZY = {
    "Choice": "_types",
    "Fallback": "_types",
    "FanOutEvent": "_fan_out",
    "TokenLogprob": "_types",
    "BatchItem": "_batch",
    "BatchProgress": "_batch",
    "BackendSpec": "_registry",
    "Adapter": "_adapter",
    "LLMAdapter": "_adapter",
    "SyncAdapter": "_sync",
    "create_adapter": "_factory",
    "create_adapter_sync": "_factory",
    "UltraConfig": "_config",
    "load_config": "_config",
    "PluginHost": "_host",
    "get_host": "_host",
    "Selection": "_selection",
    "Chunk": "_types",
    "EmbeddingResult": "_types",
    "ImagePart": "_types",
    "Message": "_types",
    "ModelInfo": "_types",
    "Result": "_types",
    "Usage": "_types",
}

SHIM_REMOVED_IN = "0.5"
"""The release that removes the ``_MOVED`` shim."""

# The shim's table, the kernel's one mention of a plugin family: name -> the module that owns it now.
_MOVED = {
    "create_modelrunner_adapter": "ultra_llm_docker.compat",
    "create_modelrunner_cli_adapter": "ultra_llm_docker.compat",
    "get_available_models": "ultra_llm_docker.compat",
    "Capabilities": "ultra_llm_docker.compat",
    "ModelRunnerAdapter": "ultra_llm_docker.compat",
    "UncheckedModelRunnerAdapter": "ultra_llm_docker.compat",
}


def __getattr__(name: str) -> Any:
    from importlib import import_module

    module = _LAZY.get(name)
    if module is not None:
        value = getattr(import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    if name in _MOVED:
        return _moved(name, _MOVED[name])
    raise AttributeError(f"module 'ultra_llm' has no attribute {name!r}")


def _moved(name: str, module: str) -> Any:
    """``name`` from ``module``, its new home, with one ``DeprecationWarning`` (then cached here, as
    ``from ultra_llm import name`` looks it up twice); ``ImportError`` naming the package when absent."""
    import warnings
    from importlib import import_module

    package = module.split(".", 1)[0].replace("_", "-")
    try:
        owner = import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".", 1)[0] != module.split(".", 1)[0]:
            raise
        raise ImportError(
            f"ultra_llm.{name} moved out of the ultra-llm kernel into the {package} package, which is not "
            f"installed: `pip install {package}`, then `from {module} import {name}`.",
            name=name,
        ) from None
    warnings.warn(
        f"`from ultra_llm import {name}` is deprecated and is removed in ultra-llm {SHIM_REMOVED_IN}: "
        f"use `from {module} import {name}` (package {package}).",
        DeprecationWarning,
        stacklevel=3,
    )
    value = getattr(owner, name)
    globals()[name] = value
    return value


__all__ = [
    "Adapter",
    "BackendSpec",
    "BatchItem",
    "BatchProgress",
    "Choice",
    "Chunk",
    "EmbeddingResult",
    "Fallback",
    "FanOutEvent",
    "ImagePart",
    "LLMAdapter",
    "Message",
    "ModelInfo",
    "PluginHost",
    "Result",
    "Selection",
    "SyncAdapter",
    "TokenLogprob",
    "UltraConfig",
    "UltraLLMError",
    "Usage",
    "__version__",
    "create_adapter",
    "create_adapter_sync",
    "get_host",
    "load_config",
]


def __dir__() -> list[str]:
    """What editors complete: the public names (``__all__``), which load lazily."""
    return sorted(__all__)
