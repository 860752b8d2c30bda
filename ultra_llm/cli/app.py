"""The click group: global flags, error handling, and the command modules it gathers."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

import click

from ..errors import UltraLLMError
from .output import print_error

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
    """Run a command's coroutine; Ctrl-C cancels it cleanly."""
    import asyncio

    return asyncio.run(coro)


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


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("Warning: %(message)s" if not debug else "%(levelname)s %(name)s: %(message)s")
    )
    logger = logging.getLogger("ultra_llm")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False
    if debug:  # every library's log too (the HTTP backend's retries, for one)
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


def build_cli() -> click.Group:
    """Build the ``ultra-llm`` command group."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
    @click.option("--trace-hooks", is_flag=True, help="Print every plugin hook call (pluggy tracing) to stderr.")
    @click.version_option(package_name="ultra-llm")
    @click.pass_context
    def cli(ctx: click.Context, debug: bool, trace_hooks: bool) -> None:
        """Local LLMs through Docker Model Runner: inspect plugins and backends, list models, generate.

        Prompts that start with '-' go after '--' (ultra-llm generate -- "-x") or on stdin ('-').
        """
        _configure_logging(debug)
        ctx.obj = _Context(debug, trace_hooks)

    from . import commands_batch, commands_generate, commands_info, commands_models, commands_serve, doctor

    for module in (commands_info, commands_models, commands_generate, commands_batch, commands_serve, doctor):
        for command in module.COMMANDS:
            cli.add_command(command)
    from ..host import get_host

    get_host().hooks.register_commands(cli)
    return cli
