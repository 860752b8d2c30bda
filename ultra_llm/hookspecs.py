"""The hookspecs: the stable contract between the ultra-llm host and its plugins.

Project name ``ultra_llm``. Implement a hook with ``@ultra_llm.hookimpl`` on a function of the
same name in the module your ``ultra_llm`` entry point names. pluggy passes an implementation only
the arguments it names, so new arguments may be added here later without breaking old plugins.
Every hook is called with keyword arguments through ``ultra_llm.host.Hooks``; each is documented
in ``docs/hooks.md`` (a test keeps the two in step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from .backend import Backend
    from .registry import BackendRegistrar, ModelRegistrar
    from .types import EmbedCall, EmbeddingRequest, GenerateCall, GenerationRequest, StreamCall

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "ultra_llm"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ultra_llm_register_backends(register: BackendRegistrar) -> None:
    """Register the backends this plugin provides.

    Called once per plugin, the first time the host needs the backend registry (never at import).
    Call ``register(name, target, summary=..., aliases=...)`` for each backend, where ``target`` is
    the ``Backend`` subclass or, better for start-up time, a ``"module:Class"`` string imported only
    when the backend is used. A name already taken by another plugin is refused and recorded as
    that plugin's error. Do no I/O here: no network, no subprocess, no heavy import.

    All implementations are called; the return value is ignored.
    """


@hookspec
def ultra_llm_register_models(backend: str, register: ModelRegistrar) -> None:
    """Contribute models to discovery for the backend named ``backend``.

    Called each time models are listed (``Adapter.list_models``, ``ultra-llm models``), after the
    backend has listed its own. Call ``register(name, display_name=None, details=None)`` for each
    extra model (an alias, a remote model, a fine-tune); entries whose canonical name the backend
    already listed are merged away. Must be quick and must not do network I/O.

    All implementations are called; the return value is ignored.
    """


@hookspec
def ultra_llm_register_commands(cli: click.Group) -> None:
    """Add commands to the ``ultra-llm`` command line.

    Called once when the CLI is built, before it parses its arguments. Call
    ``cli.add_command(command)`` with click commands or groups; import what the commands need
    inside them, not here, so ``ultra-llm --help`` stays fast. A name already taken is refused and
    recorded as this plugin's error; a hook that raises is recorded and the CLI works without it.

    All implementations are called; the return value is ignored.
    """


@hookspec(firstresult=True)
def ultra_llm_generate(request: GenerationRequest, backend: Backend) -> GenerateCall | None:
    """Return the call that produces the whole answer for ``request`` on ``backend``.

    Called once per whole generation, after the options are validated. The host's own
    implementation (``trylast``) returns ``lambda: backend.generate(request)``. Use a
    ``wrapper=True`` implementation to wrap every generation: ``call = yield`` gives the inner
    call; return a new zero-argument coroutine function that awaits ``call()`` (to time, log or
    retry) or answers without it (a cache). Exceptions raised by ``call()`` reach your wrapper.

    First non-None result wins (``firstresult``).
    """


@hookspec(firstresult=True)
def ultra_llm_stream(request: GenerationRequest, backend: Backend) -> StreamCall | None:
    """Return the call that streams the answer for ``request`` on ``backend`` as ``Chunk`` objects.

    Called once per streamed generation. The host's own implementation (``trylast``) returns
    ``lambda: backend.stream(request)``. A ``wrapper=True`` implementation gets the inner call from
    ``yield`` and returns a zero-argument function giving an async iterator: typically an async
    generator that iterates ``call()`` and re-yields each chunk. It must close the inner iterator
    when it stops early (``async with ultra_llm.closing_stream(call()) as chunks``).

    First non-None result wins (``firstresult``).
    """


@hookspec(firstresult=True)
def ultra_llm_embed(request: EmbeddingRequest, backend: Backend) -> EmbedCall | None:
    """Return the call that embeds ``request.inputs`` on ``backend``.

    Called once per embedding request. The host's own implementation (``trylast``) returns
    ``lambda: backend.embed(request)``; wrappers work as for ``ultra_llm_generate``.

    First non-None result wins (``firstresult``).
    """
