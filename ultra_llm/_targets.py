"""Importing what a plugin names by a ``"module:attr"`` string, on first use (start-up stays light)."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import PluginError

__all__ = ["import_target"]


def import_target(target: str, *, plugin: str) -> Any:
    """The object a ``"module:attr"`` string names; ``PluginError`` naming ``plugin`` when it fails."""
    module_name, _, attr = target.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
    except Exception as exc:  # any import-time failure of a plugin's module
        raise PluginError(
            f"Plugin '{plugin}' could not import '{target}': {type(exc).__name__}: {exc}",
            plugin=plugin,
        ) from exc
    return obj
