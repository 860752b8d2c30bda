"""What every command shares: the context object, the error handling, running a coroutine."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

import click

from ..errors import UltraLLMError
from .output import print_error

__all__ = ["_Context", "handle_errors", "pass_context", "run_async"]

T = TypeVar("T")


class _Context:
    """What every command shares: the debug flag and the plugin host."""

    def __init__(self, debug: bool, trace_hooks: bool) -> None:
        self.debug = debug
        self.trace_hooks = trace_hooks

    @property
    def host(self) -> Any:
        from ..host import get_host

        host = get_host()
        if self.trace_hooks:
            host.enable_tracing()
        return host


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; Ctrl-C, SIGTERM and SIGHUP cancel it cleanly (``stop_signals``)."""
    from .stop_signals import run_stoppable

    return run_stoppable(coro)


def handle_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Turn a typed error into one red line and its exit code; ``--debug`` re-raises for a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except UltraLLMError as error:
            ctx = click.get_current_context(silent=True)
            shared = ctx.find_object(_Context) if ctx is not None else None
            if shared is not None and shared.debug:
                raise
            print_error(error)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            sys.exit(130)

    return wrapper


pass_context = click.make_pass_decorator(_Context)
