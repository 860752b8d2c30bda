"""What every command shares: the context object, the error handling, running a coroutine."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ..errors import InternalError, UltraLLMError
from .output import print_error
from .terminal import neutralise

if TYPE_CHECKING:
    from .._adapter import Adapter

__all__ = ["_Context", "command_adapter", "fail", "handle_errors", "pass_context", "run_async"]

T = TypeVar("T")


class _Context:
    """What every command shares: the debug flag and the plugin host."""

    def __init__(self, debug: bool, trace_hooks: bool) -> None:
        self.debug = debug
        self.trace_hooks = trace_hooks

    @property
    def host(self) -> Any:
        from .._host import get_host

        host = get_host()
        if self.trace_hooks:
            host.enable_tracing()
        return host


async def command_adapter(backend: str | None = None, model: str | None = None) -> Adapter:
    """The adapter a command works on: the configured one, or ``backend`` named explicitly (the
    ``--backend`` option), which never falls back to the stand-in. Close it (``async with``)."""
    from .._factory import create_adapter
    from .._host import get_host

    click_context = click.get_current_context(silent=True)
    shared = click_context.find_object(_Context) if click_context is not None else None
    host = shared.host if shared is not None else get_host()
    overrides: dict[str, Any] = {"fallback": "none"} if backend else {}
    return await create_adapter(model, backend=backend, host=host, **overrides)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; Ctrl-C, SIGTERM and SIGHUP cancel it cleanly (``stop_signals``)."""
    from .stop_signals import run_stoppable

    return run_stoppable(coro)


def fail(error: Exception, *, debug: bool) -> NoReturn:
    """End the command for ``error``: one red line (``--debug``: the traceback instead), then its exit
    status. An untyped exception is a bug: shown as ``InternalError`` and its own status (70)."""
    typed = error if isinstance(error, UltraLLMError) else InternalError.wrapping(error)
    if debug:
        import traceback

        click.echo(neutralise("".join(traceback.format_exception(error))), err=True, nl=False)
    else:
        print_error(typed)
    sys.exit(typed.exit_code)


def handle_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Turn a typed error into one red line and its exit code (``fail``); Ctrl-C into status 130."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except UltraLLMError as error:
            ctx = click.get_current_context(silent=True)
            shared = ctx.find_object(_Context) if ctx is not None else None
            fail(error, debug=shared is not None and shared.debug)
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            sys.exit(130)

    return wrapper


pass_context = click.make_pass_decorator(_Context)
