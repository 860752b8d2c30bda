"""The plugin host: loads entry points one by one in isolation and owns the one facade over hooks.

Loading is lazy and idempotent: nothing happens at import, and ``load()`` runs once. Each entry
point (sorted by name) is imported, registered and checked inside its own error boundary; a plugin
that declares the kernel versions it was built for (``ultra_llm._contract``) is refused under others. Every
hook is called through ``pm.hook``, one plugin at a time (``subset_hook_caller``), so tracing sees
each call and one plugin's error never stops another's. A plugin that fails anywhere (import,
validation, any registration hook) is unregistered and its commands removed: it has no effect,
and its ``PluginRecord`` says why; ``ULTRA_LLM_STRICT_PLUGINS=1`` makes that fatal instead. The
host is the one owner of that record: ``fail`` for a plugin that stops, ``warn`` (once per message)
for one that keeps working but does something it should not (a hook without ``@hookimpl``, a
backend name another plugin registered first: the first in load order keeps it). No other module
calls ``pm.hook``: they go through ``Hooks``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from . import _hookspecs as hookspecs
from ._registry import BackendSpec, check_backend_name, make_model_registrar
from ._settings import Settings, setting
from .errors import BackendNotFoundError, PluginError, UltraLLMError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    import click

    from ._backend import Backend
    from ._config import UltraConfig
    from ._middleware import Chain, Layer
    from ._types import ModelInfo

__all__ = ["ENTRY_POINT_GROUP", "HostSettings", "Hooks", "PluginHost", "PluginRecord", "get_host", "reset_host"]

ENTRY_POINT_GROUP = "ultra_llm"


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
    commands: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What is wrong with a plugin that still works (``PluginHost.warn``): a hook without
    ``@hookimpl``, a backend name another plugin took, a middleware stream left open."""

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
            "commands": list(self.commands),
            "error": self.error,
            "warnings": list(self.warnings),
        }


def _names(value: str | None) -> frozenset[str] | None:
    """A comma-separated list as a set; ``None`` stays ``None`` (unset), blank items dropped."""
    if value is None:
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class HostSettings(Settings):
    """The plugin host's variables: which plugins load, whether a failure is fatal, tracing."""

    load_plugins: str | None = setting(
        None,
        env="ULTRA_LLM_LOAD_PLUGINS",
        help="Comma-separated allow-list of plugins (entry-point or distribution names); set but empty "
        "loads none. Unset: all.",
    )
    disable_plugins: str | None = setting(
        None, env="ULTRA_LLM_DISABLE_PLUGINS", help="Comma-separated plugins not to load."
    )
    strict_plugins: bool = setting(
        False, env="ULTRA_LLM_STRICT_PLUGINS", help="A plugin that fails is a fatal error instead of skipped."
    )
    trace_hooks: bool = setting(False, env="ULTRA_LLM_TRACE_HOOKS", help="Print every hook call to stderr.")


class PluginHost:
    """The plugin manager and the backend registry it feeds.

    ``environ`` (default ``os.environ``) supplies the ``HostSettings``: ``ULTRA_LLM_LOAD_PLUGINS``
    (allow-list), ``ULTRA_LLM_DISABLE_PLUGINS`` (deny-list), ``ULTRA_LLM_STRICT_PLUGINS`` and
    ``ULTRA_LLM_TRACE_HOOKS``. Names in both lists match an entry point's or its distribution's name.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        entry_points: Callable[[], Iterable[EntryPoint]] | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.settings = HostSettings.load(self.environ)
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.hooks = Hooks(self)
        self._entry_points = entry_points
        self._loaded = False
        self._backends: dict[str, BackendSpec] | None = None
        self._aliases: dict[str, str] = {}
        self._cli: click.Group | None = None
        self._lock = threading.RLock()
        self._tracing = False
        self._warned: set[str] = set()
        if self.settings.trace_hooks:
            self.enable_tracing()

    @property
    def strict(self) -> bool:
        """True when ``ULTRA_LLM_STRICT_PLUGINS`` makes plugin failures fatal."""
        return self.settings.strict_plugins

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> None:
        """Load every allowed entry point, once, sorted by name; later calls do nothing."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            for entry_point in sorted(self._iter_entry_points(), key=lambda ep: ep.name):
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
        allowed = _names(self.settings.load_plugins)
        denied = _names(self.settings.disable_plugins) or frozenset()
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
            self.fail(record.name, f"import failed: {type(exc).__name__}: {exc}", exc)
            return
        self._register_checked(plugin, record)

    def _register_checked(self, plugin: object, record: PluginRecord) -> None:
        from . import __version__
        from ._contract import contract_problem

        problem = contract_problem(plugin, __version__, record.distribution)
        if problem is not None:
            self.fail(record.name, problem)
            return
        first = self.pm.get_name(plugin)
        if first is not None:  # pluggy would say "Plugin already registered under a different name"
            message, fix = _same_module(record, self.records.get(first) or PluginRecord(name=first))
            self.fail(record.name, message, fix=fix)
            return
        try:
            self.pm.register(plugin, name=record.name)
        except Exception as exc:  # pluggy.PluginValidationError and friends
            self.fail(record.name, f"registration failed: {exc}", exc)
            return
        unknown = [
            caller.name
            for caller in self.pm.get_hookcallers(plugin) or []
            if caller.spec is None and not _optional(caller, plugin)
        ]
        if unknown:
            self.fail(record.name, _unknown_hooks_message(sorted(unknown)))
            return
        record.hooks = self._hook_names(plugin)
        self._backends = None
        for name in _unmarked_hooks(self.pm, plugin):
            self.warn(record.name, f"Plugin '{record.name}' {_unmarked_message(name)}")

    def fail(self, plugin: str, message: str, exc: BaseException | None = None, *, fix: str | None = None) -> None:
        """Mark ``plugin`` failed with ``message`` and remove it: unregistered, its backends and
        commands gone; one WARNING says so, ending with ``fix`` (default: fix, uninstall or disable
        it, by its name). Raises ``PluginError`` instead of going on when plugins are strict."""
        with self._lock:
            record = self.records.get(plugin)
            if record is None:
                record = self.records[plugin] = PluginRecord(name=plugin)
            record.status, record.error = "failed", message
            if self.pm.has_plugin(plugin):
                self.pm.unregister(name=plugin)
            if self._cli is not None:
                for command in record.commands:
                    self._cli.commands.pop(command, None)
            record.hooks, record.backends, record.commands = [], [], []
            self._backends = None
        said = f"Plugin '{record.name}' ({record.distribution or 'unknown distribution'}) {message}"
        if self.strict:
            raise PluginError(
                said,
                plugin=record.name,
                fix=(fix[:1].upper() + fix[1:] if fix else "Fix or uninstall the plugin")
                + ", or unset ULTRA_LLM_STRICT_PLUGINS to skip failing plugins.",
            ) from exc
        fix = fix or f"fix or uninstall it, or skip it quietly with ULTRA_LLM_DISABLE_PLUGINS={record.name}"
        logging.getLogger("ultra_llm").warning("%s. It is skipped: %s.", said, fix)

    def warn(self, plugin: str, message: str) -> None:
        """Say ``message`` (a whole sentence naming ``plugin``) about a plugin that keeps working but
        does something it should not: kept in its record's ``warnings`` (``ultra-llm plugins`` shows
        them) and logged as a WARNING, each message once per host however often it happens."""
        with self._lock:
            if message in self._warned:
                return
            self._warned.add(message)
            record = self.records.get(plugin)
            if record is not None:
                record.warnings.append(message)
        logging.getLogger("ultra_llm").warning("%s", message)

    def hook_failed(self, plugin: str, hook_name: str, exc: Exception) -> None:
        """``fail`` ``plugin`` because its ``hook_name`` raised ``exc`` (the one wording for it)."""
        self.fail(plugin, f"{hook_name} failed: {type(exc).__name__}: {exc}", exc)

    def _hook_names(self, plugin: object) -> list[str]:
        callers = self.pm.get_hookcallers(plugin) or []
        return sorted(caller.name for caller in callers)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register an in-process plugin (an app's own hooks, a test's); raise ``PluginError`` if invalid."""
        self.load()
        plugin_name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        record = PluginRecord(name=plugin_name, module=module)
        with self._lock:
            self.records[plugin_name] = record
            self._register_checked(plugin, record)
        if record.status == "failed":
            self.records.pop(plugin_name, None)
            raise PluginError(f"Plugin '{plugin_name}' {record.error}", plugin=plugin_name)
        return plugin_name

    def unregister(self, name: str) -> None:
        """Remove a plugin registered by ``register`` (or loaded from an entry point)."""
        with self._lock:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            record = self.records.pop(name, None)
            if record is not None and self._cli is not None:
                for command in record.commands:
                    self._cli.commands.pop(command, None)
            self._backends = None

    def enable_tracing(self, write: Callable[[str], None] | None = None) -> None:
        """Print every hook call, the plugin it calls, and its result (pluggy's tracer) to ``write``
        (default: stderr); once. ``ultra_llm_middleware (plugin 'cache') [hook]`` then its arguments,
        ``finish ultra_llm_middleware (plugin 'cache') --> [...] [hook]`` after."""
        if self._tracing:
            return
        self._tracing = True
        writer = write or (lambda text: sys.stderr.write(f"[ultra-llm hooks] {text}"))
        self.pm.trace.root.setwriter(writer)
        hooktrace = self.pm.trace.root.get("hook")

        def called(implementations: Sequence[pluggy.HookImpl]) -> str:
            names = ", ".join(f"'{implementation.plugin_name}'" for implementation in implementations)
            return f"({'plugin' if len(implementations) == 1 else 'plugins'} {names or 'none'})"

        def before(hook_name: str, implementations: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
            hooktrace.root.indent += 1
            hooktrace(hook_name, called(implementations), kwargs)

        def after(
            outcome: pluggy.Result[object],
            hook_name: str,
            implementations: Sequence[pluggy.HookImpl],
            kwargs: Mapping[str, object],
        ) -> None:
            if outcome.exception is None:
                hooktrace("finish", hook_name, called(implementations), "-->", outcome.get_result())
            hooktrace.root.indent -= 1

        self.pm.add_hookcall_monitoring(before, after)

    def each_plugin(self, hook_name: str) -> Iterator[tuple[str, Callable[..., list[Any]]]]:
        """``(plugin name, caller)`` for each plugin implementing ``hook_name``, in registration
        order (``trylast`` ones first, ``tryfirst`` ones last: pluggy's call order reversed, so the
        first plugin registers a name first); the caller runs the hook (through ``pm.hook``) on
        that plugin alone."""
        implementations = getattr(self.pm.hook, hook_name).get_hookimpls()
        for implementation in implementations:
            if not self.pm.is_registered(implementation.plugin):
                continue  # failed while an earlier plugin's hook ran
            others = [other.plugin for other in implementations if other.plugin is not implementation.plugin]
            yield implementation.plugin_name, self.pm.subset_hook_caller(hook_name, others)

    # -- backends ------------------------------------------------------------------------------

    def backends(self) -> dict[str, BackendSpec]:
        """Every registered backend by name, collected once per plugin in its own error boundary."""
        self.load()
        with self._lock:
            while self._backends is None:  # a plugin failing while collecting starts it over
                self._backends, self._aliases = self.hooks.register_backends()
            return dict(self._backends)

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

    def stand_in(self) -> str | None:
        """The backend registered as the stand-in (serves with no server to run), first by name; or None."""
        return next((name for name, spec in sorted(self.backends().items()) if spec.stand_in), None)


class Hooks:
    """The one typed facade over ``pm.hook``: every hook call in ultra-llm goes through here, one
    plugin at a time; a plugin whose hook raises (or hands back something invalid) fails."""

    def __init__(self, host: PluginHost) -> None:
        self._host = host

    def register_backends(self) -> tuple[dict[str, BackendSpec], dict[str, str]]:
        """Collect every plugin's backends, in load order (``PluginHost.load``): ``(specs by name,
        alias -> name)``. A plugin that raises or registers an invalid name fails, and contributes
        nothing. A name or alias registered twice stays with the first plugin in load order: the
        later backend (its name taken) or alias is left out, one WARNING names both plugins, and
        the ``conflicts`` of the backends involved say so (``ultra-llm backends`` marks them)."""
        host = self._host
        specs: dict[str, BackendSpec] = {}
        aliases: dict[str, str] = {}
        order = {name: index for index, name in enumerate(host.records)}
        for plugin_name, call in sorted(
            host.each_plugin("ultra_llm_register_backends"), key=lambda item: order.get(item[0], len(order))
        ):
            added: list[BackendSpec] = []

            def register(
                name: str,
                target: Any,
                *,
                summary: str = "",
                aliases: Iterable[str] = (),
                stand_in: bool = False,
                _plugin: str = plugin_name,
                _added: list[BackendSpec] = added,
            ) -> None:
                check_backend_name(name)
                _added.append(BackendSpec(name, target, _plugin, summary, tuple(aliases), bool(stand_in)))

            try:
                call(register=register)
            except Exception as exc:  # a plugin's hook may raise anything
                host.hook_failed(plugin_name, "ultra_llm_register_backends", exc)
                continue
            kept: list[str] = []
            for spec in added:
                holder = specs.get(spec.name) or specs.get(aliases.get(spec.name, ""))
                if holder is not None:
                    _name_taken(host, holder, spec, spec.name)
                    continue
                specs[spec.name] = spec
                kept.append(spec.name)
                for alias in spec.aliases:
                    holder = specs.get(alias) or specs.get(aliases.get(alias, ""))
                    if holder is not None and holder is not spec:
                        _name_taken(host, holder, spec, alias)
                    else:
                        aliases.setdefault(alias, spec.name)
            record = host.records.get(plugin_name)
            if record is not None:
                record.backends = kept
        return specs, aliases

    def register_settings(self) -> dict[str, tuple[str, Any]]:
        """Every plugin's settings classes: ``{section: (plugin, "module:Class" or class)}``; a plugin
        that raises or registers a section already taken fails."""
        self._host.load()
        sections: dict[str, tuple[str, Any]] = {}
        for plugin_name, call in self._host.each_plugin("ultra_llm_register_settings"):
            added: dict[str, tuple[str, Any]] = {}

            def register(section: str, target: Any, _plugin: str = plugin_name, _added: dict[str, Any] = added) -> None:
                if section in sections or section in _added:
                    raise ValueError(f"the settings section '{section}' is already registered")
                _added[section] = (_plugin, target)

            try:
                call(register=register)
            except Exception as exc:  # a plugin's hook may raise anything
                self._host.hook_failed(plugin_name, "ultra_llm_register_settings", exc)
                continue
            sections.update(added)
        return sections

    def register_models(self, backend: str) -> list[ModelInfo]:
        """Models plugins contribute for ``backend``; a plugin whose hook raises fails."""
        self._host.load()
        found: list[ModelInfo] = []
        for plugin_name, call in self._host.each_plugin("ultra_llm_register_models"):
            entries: list[ModelInfo] = []
            try:
                call(backend=backend, register=make_model_registrar(backend, plugin_name, entries))
            except Exception as exc:  # a plugin's hook may raise anything
                self._host.hook_failed(plugin_name, "ultra_llm_register_models", exc)
                continue
            found.extend(entries)
        return found

    def register_commands(self, cli: click.Group) -> None:
        """Let each plugin add CLI commands. A plugin that raises, or that replaces or removes a
        command already there (however it adds them), fails: the group is put back as it was."""
        host = self._host
        host.load()
        host._cli = cli
        for plugin_name, call in host.each_plugin("ultra_llm_register_commands"):
            before = dict(cli.commands)
            try:
                call(cli=cli)
                changed = sorted(name for name, command in before.items() if cli.commands.get(name) is not command)
                if changed:
                    raise ValueError(f"the command name(s) {', '.join(changed)} are already taken")
            except Exception as exc:  # a plugin's hook may raise anything
                cli.commands.clear()
                cli.commands.update(before)
                host.hook_failed(plugin_name, "ultra_llm_register_commands", exc)
                continue
            record = host.records.get(plugin_name)
            if record is not None:
                record.commands = sorted(name for name in cli.commands if name not in before)

    def select_backend(self, config: UltraConfig) -> tuple[str, str] | None:
        """The first ``(name, reason)`` a plugin's ``ultra_llm_select_backend`` gives, in pluggy's call
        order, the reason naming the plugin; ``None`` when none chooses. A plugin whose hook raises
        (other than a typed error, which reaches the caller) or returns something else fails."""
        self._host.load()
        for plugin_name, call in reversed(list(self._host.each_plugin("ultra_llm_select_backend"))):
            try:
                chosen: Any = call(config=config)  # a firstresult hook: one value, not a list
                if chosen is None:
                    continue
                if (
                    not isinstance(chosen, (tuple, list))
                    or len(chosen) != 2
                    or not all(isinstance(part, str) and part.strip() for part in chosen)
                ):
                    raise TypeError(f"returned {chosen!r}, not None or (backend name, reason)")
            except UltraLLMError:  # the plugin's own typed answer (a bad setting): the caller's to see
                raise
            except Exception as exc:  # a plugin's hook may raise anything
                self._host.hook_failed(plugin_name, "ultra_llm_select_backend", exc)
                continue
            name, reason = chosen
            return name.strip(), f"{reason} (plugin '{plugin_name}')"
        return None

    def middleware(self, backend: Backend) -> list[Layer]:
        """Every plugin's middleware for ``backend``, outermost first. A plugin whose hook raises or
        returns something that is not middleware fails (and adds none)."""
        from ._middleware import Layer

        self._host.load()
        layers: list[Layer] = []
        for plugin_name, call in self._host.each_plugin("ultra_llm_middleware"):
            try:
                for returned in call(backend=backend):
                    layer = Layer(plugin_name, returned)
                    layer.check()
                    layers.append(layer)
            except UltraLLMError:  # the plugin's own typed answer (a bad setting): the caller's to see
                raise
            except Exception as exc:  # a plugin's hook may raise anything
                self._host.hook_failed(plugin_name, "ultra_llm_middleware", exc)
        layers.reverse()  # pluggy's call order: the first plugin it would call is the outermost
        return layers

    def chain(self, backend: Backend) -> Chain:
        """The composed middleware chain around ``backend`` (built once per adapter)."""
        from ._middleware import Chain

        layers = self.middleware(backend)
        owner: str | None = None
        try:
            owner = self._host.backend_spec(backend.name).plugin
        except BackendNotFoundError:  # a backend class used without registering it has no spec
            owner = None
        return Chain(backend, layers, backend_plugin=owner, on_left_open=self._host.warn)

    def exercise(self, backend: Backend) -> list[Layer]:
        """Call the hooks an adapter calls after loading, for ``backend``: ``ultra_llm_middleware``
        (its layers are returned, to be dropped) and ``ultra_llm_register_models``. A plugin failing
        in one fails now as it would at its first use (``PluginHost.fail``: its record says why, one
        WARNING), so ``ultra-llm plugins`` and ``doctor`` show it; a plugin's typed error (a bad
        setting) reaches the caller."""
        layers = self.middleware(backend)
        self.register_models(backend.name)
        return layers

    def exercise_models(self) -> None:
        """``ultra_llm_register_models`` for every registered backend's name, what it registers
        dropped: the part of ``exercise`` that builds no backend (``ultra-llm plugins`` stays light),
        so a plugin whose hook raises fails now, its record saying why."""
        for name in sorted(self._host.backends()):
            self.register_models(name)


def _optional(caller: Any, plugin: object) -> bool:
    """Whether ``plugin`` marked its implementation of ``caller`` (a hook this release has no spec for)
    ``@hookimpl(optionalhook=True)``: a hook of a later release, which loads here and is never called."""
    return all(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin)


def _name_taken(host: PluginHost, holder: BackendSpec, later: BackendSpec, name: str) -> None:
    """``later`` registers ``name``, which ``holder``'s plugin registered first: mark both specs and
    warn once, naming both plugins (``later`` loses the name)."""

    def what(spec: BackendSpec) -> str:
        return "its backend" if spec.name == name else f"an alias of its backend '{spec.name}'"

    if later.name == name:
        lost = f"the backend '{name}' of plugin '{later.plugin}' is left out"
    else:
        lost = f"'{name}' does not select the backend '{later.name}' of plugin '{later.plugin}'"
        later.conflicts.append(f"alias '{name}' taken by plugin '{holder.plugin}' (backend '{holder.name}')")
    holder.conflicts.append(f"'{name}' also registered by plugin '{later.plugin}' ({what(later)}), left out")
    host.warn(
        later.plugin,
        f"The backend name '{name}' is registered twice: first by plugin '{holder.plugin}' ({what(holder)}), "
        f"then by plugin '{later.plugin}' ({what(later)}). The first is kept (plugins load in the order of their "
        f"entry-point names), so {lost}. Uninstall the plugin you do not want, or skip it with "
        f"ULTRA_LLM_DISABLE_PLUGINS={holder.plugin} or ULTRA_LLM_DISABLE_PLUGINS={later.plugin}.",
    )


def _same_module(record: PluginRecord, first: PluginRecord) -> tuple[str, str]:
    """Why ``record``'s plugin, the very object ``first`` registered (two entry points naming one
    module), is refused, and what to do: ``(message, fix)``."""
    if record.distribution is None:  # registered in process
        return (
            f"is the object already registered as plugin '{first.name}': an object is one plugin",
            f"register it once, or skip this one quietly with ULTRA_LLM_DISABLE_PLUGINS={record.name}",
        )
    where = f" of {first.distribution}" if first.distribution else ""
    message = (
        f"is the module already loaded as plugin '{first.name}' (entry point '{first.name} = {first.module}'"
        f"{where}): its entry point '{record.name} = {record.module}' names the same module, and a module "
        "is one plugin"
    )
    fix = (
        "keep one of the two entry points (two distributions shipping one module: uninstall one), "
        f"or skip this one quietly with ULTRA_LLM_DISABLE_PLUGINS={record.name}"
    )
    return message, fix


def _unmarked_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """The functions of ``plugin`` named ``ultra_llm_*`` that are not marked ``@hookimpl`` (pluggy
    ignores them silently): a module's own functions, a class's methods."""
    found: list[str] = []
    own_module = plugin.__name__ if isinstance(plugin, ModuleType) else None
    for name in dir(plugin):
        if not name.startswith("ultra_llm_"):
            continue
        value = getattr(plugin, name, None)
        if not callable(value) or (own_module is not None and getattr(value, "__module__", None) != own_module):
            continue  # not a function, or one the module imported
        if pm.parse_hookimpl_opts(plugin, name) is None:
            found.append(name)
    return found


def _unmarked_message(name: str) -> str:
    """What to say of a function ``name`` not marked ``@hookimpl``: a hook's name or a near miss."""
    import difflib

    known = sorted(attr for attr in dir(hookspecs) if attr.startswith("ultra_llm_"))
    if name in known:
        return (
            f"defines {name} without @hookimpl, so it is never called: decorate it with @hookimpl "
            "(from ultra_llm.plugin import hookimpl)"
        )
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"the hooks are {', '.join(known)}"
    return (
        f"defines {name}, named like a hook but neither one nor marked @hookimpl, so it is never called "
        f"({hint}); rename it if it is a helper"
    )


def _unknown_hooks_message(names: list[str]) -> str:
    """Why hooks without a spec are refused: 0.1 hooks with their replacement, misspellings with a
    suggestion."""
    import difflib

    parts: list[str] = []
    removed = [name for name in names if name in hookspecs.REMOVED_HOOKS]
    if removed:
        methods = ", ".join(hookspecs.REMOVED_HOOKS[name] for name in removed)
        parts.append(
            f"implements {', '.join(removed)}, removed in ultra-llm 0.2: return middleware with "
            f"{methods} from ultra_llm_middleware instead (CHANGELOG.md, 'Migrating from 0.1')"
        )
    known = sorted(attr for attr in dir(hookspecs) if attr.startswith("ultra_llm_"))
    for name in names:
        if name in hookspecs.REMOVED_HOOKS:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"the hooks are {', '.join(known)}"
        parts.append(f"implements unknown hook {name} ({hint})")
    return "; ".join(parts)


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
