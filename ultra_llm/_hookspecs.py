"""The hookspecs: the stable contract between the ultra-llm host and its plugins.

Project name ``ultra_llm``. Implement a hook with ``@ultra_llm.hookimpl`` on a function of the
same name in the module your ``ultra_llm`` entry point names. pluggy passes an implementation only
the arguments it names, so new arguments may be added here later without breaking old plugins.
Every hook is called through ``pm.hook`` by ``ultra_llm._host``, one plugin at a time, so one
plugin's error never stops another's; each is documented in ``docs/hooks.md`` (a test keeps the
two in step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from ._backend import Backend
    from ._config import UltraConfig
    from ._middleware import Middleware
    from ._registry import BackendRegistrar, ModelRegistrar, SettingsRegistrar

__all__ = ["PROJECT_NAME", "REMOVED_HOOKS", "hookimpl", "hookspec"]

PROJECT_NAME = "ultra_llm"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ultra_llm_register_backends(register: BackendRegistrar) -> None:
    """Register the backends this plugin provides.

    Called once per plugin, the first time the host needs the backend registry (never at import).
    Call ``register(name, target, summary=..., aliases=...)`` for each backend, where ``target`` is
    the ``Backend`` subclass or, better for start-up time, a ``"module:Class"`` string imported only
    when the backend is used. A name or alias another plugin registers too stays with the plugin
    that loads first (entry points load sorted by entry-point name, then plugins registered in
    process): the other's backend or alias is left out, one WARNING names both plugins, and
    ``ultra-llm backends`` marks the rows. Do no I/O here: no network, no subprocess, no heavy import.

    All implementations are called; the return value is ignored.
    """


@hookspec
def ultra_llm_register_models(backend: str, register: ModelRegistrar) -> None:
    """Contribute models to discovery for the backend named ``backend``.

    Called each time models are listed (``Adapter.list_models``, ``ultra-llm models``), after the
    backend has listed its own, and by ``ultra-llm plugins`` and ``doctor`` for each backend name,
    to show a plugin whose hook raises as failed. Call ``register(name, display_name=None, details=None)`` for each
    extra model (an alias, a remote model, a fine-tune); entries whose canonical name the backend
    already listed are merged away. Must be quick and must not do network I/O.

    All implementations are called; the return value is ignored.
    """


@hookspec
def ultra_llm_register_commands(cli: click.Group) -> None:
    """Add commands to the ``ultra-llm`` command line.

    Called once when the CLI is built, before it parses its arguments. Call
    ``cli.add_command(command)`` with click commands or groups; import what the commands need
    inside them, not here, so ``ultra-llm --help`` stays fast (``ultra_llm.plugin`` has the helpers
    the kernel's commands use: ``command_adapter``, ``run_async``, ``handle_errors``, ``echo_json``).
    A name already taken is refused and
    recorded as this plugin's error; a hook that raises is recorded and the CLI works without it.

    All implementations are called; the return value is ignored.
    """


@hookspec
def ultra_llm_register_settings(register: SettingsRegistrar) -> None:
    """Register this plugin's settings classes, so ``ultra-llm config`` and the documentation list them.

    Call ``register(section, target)`` for each ``ultra_llm.plugin.Settings`` subclass the plugin
    reads (a backend's ``settings_model`` is found through its backend: do not register it here),
    where ``target`` is the class or, better for start-up time, a ``"module:Class"`` string imported
    only when listed. ``section`` is the heading ``ultra-llm config`` shows (the plugin's name).

    All implementations are called; the return value is ignored.
    """


@hookspec
def ultra_llm_middleware(backend: Backend) -> Middleware | None:
    """Return middleware to put around every call an adapter makes to ``backend``, or ``None``.

    Called once per plugin each time an adapter is made (``create_adapter``, each CLI command),
    never per request: the host composes the returned objects into one chain, so a request pays
    no hook dispatch. Return an object with any of ``generate(request, call_next)``,
    ``stream(request, call_next)`` and ``embed(request, call_next)`` (subclass
    ``ultra_llm.plugin.Middleware``); ``call_next(request)`` runs the rest of the chain, and
    the errors it raises reach your ``try``. Return ``None`` when your plugin is off or has nothing
    to add for this backend (look at ``backend.name`` and its class attributes). Do no I/O here.
    A typed ``ultra_llm.errors`` error (a ``ConfigurationError`` for a bad setting of yours) stops
    the adapter from being made and reaches its caller; any other exception, or a result that is
    not middleware (a sync ``generate``), fails your plugin: one WARNING, and no layer from it.
    ``ultra-llm doctor`` calls it against the backend it checks, to show such a plugin as failed.

    Order: the middleware from the implementation pluggy calls first is the outermost. Mark yours
    ``@hookimpl(tryfirst=True)`` to see everything the caller waits for (timing), or
    ``@hookimpl(trylast=True)`` to sit next to the backend (a cache); among the rest, plugins
    loaded later (entry points load sorted by name) are outer.

    All implementations are called; the results, outermost first, make the chain.
    """


@hookspec(firstresult=True)
def ultra_llm_select_backend(config: UltraConfig) -> tuple[str, str] | None:
    """Choose the backend that serves when no name was given: ``(name, reason)``, or ``None``.

    Called each time a backend is selected (``create_adapter``, each CLI command, the web API)
    without ``-b``/``backend=`` and with ``ULTRA_LLM_BACKEND`` unset, which both win over this hook;
    when every implementation returns ``None``, the backend registered as the stand-in serves.
    ``config`` is the kernel's ``UltraConfig``; read your own variables from a settings class you
    register with ``ultra_llm_register_settings`` (so ``ultra-llm config`` lists them). ``name`` is a
    backend name or alias; one nothing registers is a configuration error (``BackendNotFoundError``,
    exit 2) naming ``reason``, never a fallback, so say in ``reason`` which of your variables chose
    it (``"USE_X=true, X_TYPE=fast"``). Must be quick: no I/O, no availability check (the kernel
    checks, and falls back per ``ULTRA_LLM_FALLBACK``). A typed ``ultra_llm.errors`` error (a
    ``ConfigurationError`` for a bad value of yours) reaches the caller; any other exception, or a
    result that is not two non-empty strings, fails your plugin and the next one is asked.

    First result wins: implementations are called in pluggy's order (``tryfirst`` first, then plugins
    loaded later first) until one returns something other than ``None``.
    """


REMOVED_HOOKS = {
    "ultra_llm_generate": "generate(request, call_next)",
    "ultra_llm_stream": "stream(request, call_next)",
    "ultra_llm_embed": "embed(request, call_next)",
}
"""The 0.1 call hooks, removed in 0.2.0, and the middleware method that replaces each."""
