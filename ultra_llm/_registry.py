"""The backend registry: what ``ultra_llm_register_backends`` fills, and the callbacks it hands out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._targets import import_target
from .errors import PluginError

if TYPE_CHECKING:
    from ._backend import Backend
    from ._settings import Settings
    from ._types import ModelInfo

__all__ = [
    "BackendRegistrar",
    "BackendSpec",
    "ModelRegistrar",
    "SettingsRegistrar",
    "load_settings_target",
    "load_target",
]

BaseT = TypeVar("BaseT")
_BACKEND_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


class BackendRegistrar(Protocol):
    """The ``register`` callback of ``ultra_llm_register_backends``."""

    def __call__(
        self,
        name: str,
        target: str | type[Backend],
        *,
        summary: str = "",
        aliases: Iterable[str] = (),
        stand_in: bool = False,
    ) -> None: ...


class SettingsRegistrar(Protocol):
    """The ``register`` callback of ``ultra_llm_register_settings``."""

    def __call__(self, section: str, target: str | type[Settings]) -> None: ...


class ModelRegistrar(Protocol):
    """The ``register`` callback of ``ultra_llm_register_models``."""

    def __call__(
        self,
        name: str,
        *,
        display_name: str | None = None,
        details: Mapping[str, str | int | float | None] | None = None,
    ) -> None: ...


def load_target(target: str | type[Backend], *, plugin: str) -> type[Backend]:
    """Import a ``"module:Class"`` target (or return a class) and check it is a ``Backend``."""
    from ._backend import Backend

    base: type[Any] = Backend  # abstract: a concrete subclass is what is checked for
    loaded: type[Backend] = _load(target, base, "ultra_llm.Backend", plugin=plugin)
    return loaded


def load_settings_target(target: str | type[Settings], *, plugin: str) -> type[Settings]:
    """Import a ``"module:Class"`` target (or return a class) and check it is a ``Settings`` class."""
    from ._settings import Settings

    return _load(target, Settings, "ultra_llm._settings.Settings", plugin=plugin)


def _load(target: str | type[BaseT], base: type[BaseT], what: str, *, plugin: str) -> type[BaseT]:
    obj = import_target(target, plugin=plugin) if isinstance(target, str) else target
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginError(
            f"Plugin '{plugin}' registered {target!r}, which is not a {what} subclass.",
            plugin=plugin,
        )
    return obj


@dataclass
class BackendSpec:
    """A registered backend: its name, where its class lives, and which plugin registered it.

    ``aliases`` are other names that select it (short names a plugin's selection variables use);
    ``stand_in`` marks a backend that serves with no server to run: it serves when nothing else is
    selected (no ``ULTRA_LLM_BACKEND``, no plugin's ``ultra_llm_select_backend``), and is the
    default fallback."""

    name: str
    target: str | type[Backend]
    plugin: str
    summary: str = ""
    aliases: tuple[str, ...] = ()
    stand_in: bool = False
    conflicts: list[str] = field(default_factory=list, compare=False)
    """Names of this backend another plugin also registers (which the first in load order keeps),
    each saying which plugin and who kept it; filled by the host."""
    _cls: type[Backend] | None = field(default=None, repr=False)

    def load(self) -> type[Backend]:
        """The backend class, imported on first use; ``PluginError`` when that fails."""
        if self._cls is None:
            self._cls = load_target(self.target, plugin=self.plugin)
        return self._cls


def check_backend_name(name: str) -> str:
    """Return ``name`` if it is a valid backend name (lower case, ``[a-z0-9_.-]``), else raise ``ValueError``."""
    if not isinstance(name, str) or not _BACKEND_NAME.fullmatch(name):
        raise ValueError(f"invalid backend name {name!r}: use lower-case letters, digits, '-', '_' or '.'")
    return name


def make_model_registrar(backend: str, plugin: str, sink: list[ModelInfo]) -> ModelRegistrar:
    """A ``register`` callback that appends a ``ModelInfo`` tagged with ``plugin`` to ``sink``."""
    from ._types import ModelInfo

    def register(
        name: str,
        *,
        display_name: str | None = None,
        details: Mapping[str, str | int | float | None] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"model name must be a non-empty string, got {name!r}")
        sink.append(
            ModelInfo(name=name, backend=backend, display_name=display_name, details=dict(details or {}), source=plugin)
        )

    return register
