"""The plugin host: loads entry points one by one in isolation and owns the one facade over hooks.

Loading is lazy and idempotent: nothing happens at import, and ``load()`` runs once. Each entry
point is imported, registered and checked (``check_pending``) inside its own error boundary; a
failure is recorded on its ``PluginRecord`` and stops nothing else, unless
``ULTRA_LLM_STRICT_PLUGINS=1``. No other module calls ``pm.hook``: they go through ``Hooks``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pluggy

from . import hookspecs
from .errors import BackendNotFoundError, PluginError, UltraLLMError
from .registry import BackendSpec, check_backend_name, make_model_registrar

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    import click

    from .backend import Backend
    from .types import (
        EmbedCall,
        EmbeddingRequest,
        GenerateCall,
        GenerationRequest,
        ModelInfo,
        StreamCall,
    )

__all__ = ["ENTRY_POINT_GROUP", "Hooks", "PluginHost", "PluginRecord", "get_host", "reset_host"]

ENTRY_POINT_GROUP = "ultra_llm"
CORE_PLUGIN = "ultra_llm.core"


@dataclass
class PluginRecord:
    """What the host knows of one plugin: where it came from, its hooks, and why it failed if it did."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    status: str = "loaded"
    """``loaded``, ``failed``, ``disabled`` (deny-list) or ``not-allowed`` (allow-list)."""
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "hooks": list(self.hooks),
            "backends": list(self.backends),
            "error": self.error,
        }


def _env_list(environ: Mapping[str, str], name: str) -> frozenset[str] | None:
    """A comma-separated variable as a set; ``None`` when unset (an empty value is the empty set)."""
    raw = environ.get(name)
    if raw is None:
        return None
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _env_flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class PluginHost:
    """The plugin manager and the backend registry it feeds.

    ``environ`` (default ``os.environ``) supplies ``ULTRA_LLM_LOAD_PLUGINS`` (allow-list; empty
    means none), ``ULTRA_LLM_DISABLE_PLUGINS`` (deny-list) and ``ULTRA_LLM_STRICT_PLUGINS``.
    Names in both lists match an entry point's name or its distribution's name.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        entry_points: Callable[[], Iterable[EntryPoint]] | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.hooks = Hooks(self)
        self._entry_points = entry_points
        self._loaded = False
        self._backends: dict[str, BackendSpec] | None = None
        self._aliases: dict[str, str] = {}
        self._lock = threading.RLock()
        if _env_flag(self.environ, "ULTRA_LLM_TRACE_HOOKS"):
            self.enable_tracing()

    @property
    def strict(self) -> bool:
        """True when ``ULTRA_LLM_STRICT_PLUGINS`` makes plugin failures fatal."""
        return _env_flag(self.environ, "ULTRA_LLM_STRICT_PLUGINS")

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the core hooks and every allowed entry point, once; later calls do nothing."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            from . import core_hooks

            self.pm.register(core_hooks, name=CORE_PLUGIN)
            self.records[CORE_PLUGIN] = PluginRecord(
                name=CORE_PLUGIN,
                distribution="ultra-llm",
                version=_version("ultra-llm"),
                module=core_hooks.__name__,
                hooks=self._hook_names(core_hooks),
            )
            for entry_point in self._iter_entry_points():
                self._load_entry_point(entry_point)

    def _iter_entry_points(self) -> Iterable[EntryPoint]:
        if self._entry_points is not None:
            return self._entry_points()
        from importlib.metadata import entry_points

        return entry_points(group=ENTRY_POINT_GROUP)

    def _load_entry_point(self, entry_point: EntryPoint) -> None:
        dist = getattr(entry_point, "dist", None)
        record = PluginRecord(
            name=entry_point.name,
            distribution=dist.name if dist is not None else None,
            version=dist.version if dist is not None else None,
            module=entry_point.value,
        )
        names = {entry_point.name, record.distribution or entry_point.name}
        allowed = _env_list(self.environ, "ULTRA_LLM_LOAD_PLUGINS")
        denied = _env_list(self.environ, "ULTRA_LLM_DISABLE_PLUGINS") or frozenset()
        if entry_point.name in self.records:
            record.status, record.error = "failed", f"another plugin is already registered as '{entry_point.name}'"
            self.records[f"{entry_point.name} ({record.distribution})"] = record
            return
        self.records[entry_point.name] = record
        if names & denied:
            record.status = "disabled"
            return
        if allowed is not None and not names & allowed:
            record.status = "not-allowed"
            return
        try:
            plugin = entry_point.load()
        except Exception as exc:  # a plugin's import may raise anything
            self._fail(record, f"import failed: {type(exc).__name__}: {exc}", exc)
            return
        self._register_checked(plugin, record)

    def _register_checked(self, plugin: object, record: PluginRecord) -> None:
        try:
            self.pm.register(plugin, name=record.name)
        except Exception as exc:  # pluggy.PluginValidationError and friends
            self._fail(record, f"registration failed: {exc}", exc)
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=record.name)
            self._fail(record, f"{exc} (is the hook name misspelt? `ultra-llm plugins` lists the known hooks)", exc)
            return
        record.hooks = self._hook_names(plugin)
        self._backends = None

    def _fail(self, record: PluginRecord, message: str, exc: BaseException) -> None:
        record.status, record.error = "failed", message
        if self.strict:
            raise PluginError(
                f"Plugin '{record.name}' ({record.distribution or 'unknown distribution'}) {message}",
                plugin=record.name,
                fix="Fix or uninstall the plugin, or unset ULTRA_LLM_STRICT_PLUGINS to skip failing plugins.",
            ) from exc

    def _hook_names(self, plugin: object) -> list[str]:
        callers = self.pm.get_hookcallers(plugin) or []
        return sorted(caller.name for caller in callers)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register an in-process plugin (an app's own hooks, a test's); raise ``PluginError`` if invalid."""
        self.load()
        plugin_name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
        record = PluginRecord(name=plugin_name, module=getattr(plugin, "__name__", None))
        with self._lock:
            self._register_checked(plugin, record)
        if record.status == "failed":
            raise PluginError(f"Plugin '{plugin_name}' {record.error}", plugin=plugin_name)
        self.records[plugin_name] = record
        return plugin_name

    def unregister(self, name: str) -> None:
        """Remove a plugin registered by ``register`` (or loaded from an entry point)."""
        with self._lock:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            self.records.pop(name, None)
            self._backends = None

    def enable_tracing(self, write: Callable[[str], None] | None = None) -> None:
        """Print every hook call and its result (pluggy tracing) to ``write`` (default: stderr)."""
        writer = write or (lambda text: sys.stderr.write(f"[ultra-llm hooks] {text}"))
        self.pm.trace.root.setwriter(writer)
        self.pm.enable_tracing()

    # -- backends ------------------------------------------------------------------------------

    def backends(self) -> dict[str, BackendSpec]:
        """Every registered backend by name, collected once per plugin in its own error boundary."""
        self.load()
        with self._lock:
            if self._backends is None:
                self._backends, self._aliases = self._collect_backends()
            return dict(self._backends)

    def _collect_backends(self) -> tuple[dict[str, BackendSpec], dict[str, str]]:
        specs: dict[str, BackendSpec] = {}
        aliases: dict[str, str] = {}
        for plugin_name, function, argnames in self.hooks.implementations("ultra_llm_register_backends"):
            record = self.records.get(plugin_name)
            added: list[BackendSpec] = []

            def register(
                name: str,
                target: Any,
                *,
                summary: str = "",
                aliases: Iterable[str] = (),
                _plugin: str = plugin_name,
                _added: list[BackendSpec] = added,
            ) -> None:
                check_backend_name(name)
                _added.append(BackendSpec(name, target, _plugin, summary, tuple(aliases)))

            try:
                function(**{arg: register for arg in argnames if arg == "register"})
                for spec in added:
                    taken = specs.get(spec.name) or specs.get(aliases.get(spec.name, ""))
                    if taken is not None:
                        raise ValueError(f"backend name '{spec.name}' is already registered by plugin '{taken.plugin}'")
            except Exception as exc:  # a plugin's hook may raise anything
                if record is not None:
                    self._fail(record, f"ultra_llm_register_backends failed: {type(exc).__name__}: {exc}", exc)
                continue
            for spec in added:
                specs[spec.name] = spec
                for alias in spec.aliases:
                    aliases.setdefault(alias, spec.name)
            if record is not None:
                record.backends = [spec.name for spec in added]
        return specs, aliases

    def resolve_backend_name(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases; ``BackendNotFoundError`` otherwise."""
        specs = self.backends()
        if name in specs:
            return name
        if name in self._aliases:
            return self._aliases[name]
        known = ", ".join(sorted(specs)) or "none"
        failed = [r.name for r in self.records.values() if r.status == "failed"]
        hint = f" Plugins that failed to load: {', '.join(failed)}." if failed else ""
        raise BackendNotFoundError(f"No backend named '{name}' is registered (registered: {known}).{hint}")

    def backend_spec(self, name: str) -> BackendSpec:
        """The spec of the backend called ``name`` (aliases accepted)."""
        return self.backends()[self.resolve_backend_name(name)]


class Hooks:
    """The one typed facade over ``pm.hook``: every hook call in ultra-llm goes through here."""

    def __init__(self, host: PluginHost) -> None:
        self._host = host

    def implementations(self, hook_name: str) -> list[tuple[str, Callable[..., Any], tuple[str, ...]]]:
        """``(plugin name, function, argument names)`` of each implementation of ``hook_name``."""
        caller = getattr(self._host.pm.hook, hook_name)
        return [(impl.plugin_name, impl.function, tuple(impl.argnames)) for impl in caller.get_hookimpls()]

    def register_models(self, backend: str) -> list[ModelInfo]:
        """Models plugins contribute for ``backend``; a failing plugin is recorded and skipped."""
        self._host.load()
        found: list[ModelInfo] = []
        for plugin_name, function, argnames in self.implementations("ultra_llm_register_models"):
            entries: list[ModelInfo] = []
            register = make_model_registrar(backend, plugin_name, entries)
            arguments = {"backend": backend, "register": register}
            try:
                function(**{arg: arguments[arg] for arg in argnames if arg in arguments})
            except Exception as exc:  # a plugin's hook may raise anything
                record = self._host.records.get(plugin_name)
                if record is not None:
                    record.error = f"ultra_llm_register_models failed: {type(exc).__name__}: {exc}"
                if self._host.strict:
                    raise PluginError(
                        f"Plugin '{plugin_name}' failed in ultra_llm_register_models: {exc}", plugin=plugin_name
                    ) from exc
                continue
            found.extend(entries)
        return found

    def register_commands(self, cli: click.Group) -> None:
        """Let each plugin add CLI commands, in its own error boundary; a clash or a raise is recorded."""
        self._host.load()
        for plugin_name, function, argnames in self.implementations("ultra_llm_register_commands"):
            before = dict(cli.commands)
            guarded = _GuardedGroup(cli, plugin_name)
            try:
                function(**{arg: guarded for arg in argnames if arg == "cli"})
            except Exception as exc:  # a plugin's hook may raise anything
                cli.commands.clear()
                cli.commands.update(before)
                record = self._host.records.get(plugin_name)
                if record is not None:
                    self._host._fail(record, f"ultra_llm_register_commands failed: {type(exc).__name__}: {exc}", exc)

    def generate_call(self, request: GenerationRequest, backend: Backend) -> GenerateCall:
        """The (possibly wrapped) call producing a whole answer."""
        return cast("GenerateCall", self._call_hook("ultra_llm_generate", request=request, backend=backend))

    def stream_call(self, request: GenerationRequest, backend: Backend) -> StreamCall:
        """The (possibly wrapped) call producing a stream of chunks."""
        return cast("StreamCall", self._call_hook("ultra_llm_stream", request=request, backend=backend))

    def embed_call(self, request: EmbeddingRequest, backend: Backend) -> EmbedCall:
        """The (possibly wrapped) call producing embeddings."""
        return cast("EmbedCall", self._call_hook("ultra_llm_embed", request=request, backend=backend))

    def _call_hook(self, hook_name: str, **kwargs: Any) -> Any:
        self._host.load()
        try:
            call = getattr(self._host.pm.hook, hook_name)(**kwargs)
        except UltraLLMError:
            raise
        except Exception as exc:  # a plugin's hook or wrapper may raise anything
            raise PluginError(
                f"A plugin's {hook_name} hook raised {type(exc).__name__}: {exc}",
                plugin=_plugin_of(exc, self._host) or "unknown",
            ) from exc
        if not callable(call):
            raise PluginError(
                f"A plugin's {hook_name} hook returned {type(call).__name__}, not a zero-argument callable.",
                plugin="unknown",
            )
        return call


class _GuardedGroup:
    """What ``ultra_llm_register_commands`` receives: adds commands to the CLI, refusing taken names."""

    def __init__(self, group: click.Group, plugin: str) -> None:
        self._group = group
        self._plugin = plugin

    def add_command(self, command: click.Command, name: str | None = None) -> None:
        """Add ``command`` (under ``name``); ``ValueError`` if the name is already a command."""
        command_name = name or command.name
        if command_name in self._group.commands:
            raise ValueError(f"the command name '{command_name}' is already taken")
        self._group.add_command(command, command_name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._group, attribute)


def _plugin_of(exc: BaseException, host: PluginHost) -> str | None:
    """The plugin whose module raised ``exc``, found from the traceback's innermost plugin frame."""
    modules = {record.module.split(":")[0]: name for name, record in host.records.items() if record.module}
    found: str | None = None
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        for prefix, name in modules.items():
            if module == prefix or module.startswith(prefix + "."):
                found = name
        tb = tb.tb_next
    return found


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


_default_host: PluginHost | None = None
_default_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide host, created on first use (plugins load on first need, not here)."""
    global _default_host
    with _default_lock:
        if _default_host is None:
            _default_host = PluginHost()
        return _default_host


def reset_host() -> None:
    """Forget the process-wide host, so the next ``get_host()`` reloads plugins (for tests)."""
    global _default_host
    with _default_lock:
        _default_host = None
