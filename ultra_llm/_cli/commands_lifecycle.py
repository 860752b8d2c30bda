"""``ps``, ``preload``, ``unload``, ``configure``, ``inspect``, ``df``: the models loaded on the server.

Backends without loaded-model management (a stand-in, a plain OpenAI-compatible server) answer with
``UnsupportedOperationError`` and its fix. Text the server sends (names, its "until" column) is shown
through ``terminal.for_stream``: control characters are made visible on a terminal, never obeyed.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from .commands_models import backend_option, runner_option
from .context import _Context, command_adapter, handle_errors, pass_context, run_async
from .output import _human_bytes, echo_json, echo_table, yes_no
from .terminal import for_stream

if TYPE_CHECKING:
    from .._adapter import Adapter
    from .._lifecycle import DiskUsage, ModelSettings

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _with_adapter(ctx: _Context, backend: str | None, call: Callable[[Adapter], Awaitable[T]]) -> T:
    """Open an adapter as configured (``--backend`` never falls back), run ``call`` on it, close it."""

    async def run() -> T:
        async with await command_adapter(backend) as adapter:
            return await call(adapter)

    return run_async(run())


def _check_first(ctx: _Context, backend: str | None, settings: ModelSettings) -> None:
    """Refuse bad settings before any I/O: the neutral checks (``ModelSettings``), then the grammar of
    the backend the configuration asks for (``LoadedModels.check_settings``, a classmethod)."""
    from .._capabilities import LoadedModels
    from .._config import load_config
    from .._selection import choose_backend_name

    name = backend or choose_backend_name(load_config(), ctx.host)[0]
    cls = ctx.host.backend_spec(name).load()
    if issubclass(cls, LoadedModels):
        cls.check_settings(settings)


def _shown(value: object) -> str:
    """Untrusted text for the terminal (control characters visible); ``-`` for nothing."""
    return "-" if value is None or value == "" else for_stream(sys.stdout)(str(value))


@click.command()
@backend_option
@json_option
@pass_context
@handle_errors
def ps(ctx: _Context, backend: str | None, as_json: bool) -> None:
    """List the models loaded now: engine, mode, and until when (the server's `ps`)."""
    loaded = _with_adapter(ctx, backend, lambda adapter: adapter.running_models())
    if as_json:
        echo_json([model.to_dict() for model in loaded])
        return
    rows = [[_shown(m.name), _shown(m.engine), _shown(m.mode), _shown(m.until)] for m in loaded]
    if any(m.runner for m in loaded):  # a backend with several servers: which one each row is on
        echo_table(
            ["RUNNER", "MODEL", "ENGINE", "MODE", "UNTIL"],
            [[_shown(m.runner), *r] for m, r in zip(loaded, rows, strict=True)],
        )
        return
    echo_table(["MODEL", "ENGINE", "MODE", "UNTIL"], rows)


@click.command()
@click.argument("model")
@backend_option
@runner_option
@pass_context
@handle_errors
def preload(ctx: _Context, model: str, backend: str | None, runners: tuple[str, ...]) -> None:
    """Load MODEL without generating, so the first request does not wait for it.

    The server's own name for this is `run -d` (detach). A cold load can take tens of
    seconds (ULTRA_LLM_TIMEOUT bounds it); it stays loaded for its keep-alive (see `configure`).
    """
    name = _with_adapter(ctx, backend, lambda adapter: adapter.preload(model, runners=runners))
    click.echo(f"Loaded {_shown(name)}.")


@click.command()
@click.argument("models", nargs=-1, metavar="MODEL...")
@click.option("--all", "all_", is_flag=True, help="Unload every loaded model.")
@backend_option
@runner_option
@json_option
@pass_context
@handle_errors
def unload(
    ctx: _Context, models: tuple[str, ...], all_: bool, backend: str | None, runners: tuple[str, ...], as_json: bool
) -> None:
    """Unload MODEL... (or --all) from memory; they load again on their next request.

    This cuts the requests those models are serving, for every user of the server.
    """
    count = _with_adapter(ctx, backend, lambda adapter: adapter.unload(models, all=all_, runners=runners))
    if as_json:
        echo_json({"unloaded": count})
    elif count:
        click.echo(f"Unloaded {count} model(s).")
    else:
        click.echo("No models are loaded." if all_ else "None of them was loaded.")


@click.command()
@click.argument("model")
@click.option("--context-size", type=int, default=None, help="Context window in tokens (-1: the model's whole).")
@click.option("--keep-alive", default=None, metavar="DURATION", help="How long it stays loaded idle: 5m, 1h30m, 0, -1.")
@click.option(
    "--think/--no-think",
    default=None,
    help="A reasoning model thinks before answering, or not (the server's --think); per request, "
    "`generate --reasoning/--no-reasoning` overrides it.",
)
@click.option("--unload", "unload_first", is_flag=True, help="Unload it first if loaded (cuts its requests).")
@backend_option
@runner_option
@pass_context
@handle_errors
def configure(
    ctx: _Context,
    model: str,
    context_size: int | None,
    keep_alive: str | None,
    think: bool | None,
    unload_first: bool,
    backend: str | None,
    runners: tuple[str, ...],
) -> None:
    """Set MODEL's context size and keep-alive on the server (its `configure`).

    On a model server these (and reasoning) are per-model settings, changed here, not per
    request; the server loads the model again with them at once. While the model is serving a
    request the server refuses: unload it first (`ultra-llm unload MODEL`), or pass --unload to do
    both on purpose. Durations: 0 unloads when idle, -1 keeps it loaded, else a Go duration (5m).
    """
    from .._lifecycle import ModelSettings

    _check_first(ctx, backend, ModelSettings(context_size=context_size, keep_alive=keep_alive, think=think))

    async def call(adapter: Adapter) -> str:
        return await adapter.configure(
            model, context_size=context_size, keep_alive=keep_alive, think=think, unload=unload_first, runners=runners
        )

    name = _with_adapter(ctx, backend, call)
    parts = [
        f"context size {context_size}" if context_size is not None else "",
        f"keep-alive {keep_alive}" if keep_alive else "",
        {True: "thinking on", False: "thinking off", None: ""}[think],
    ]
    click.echo(f"Configured {_shown(name)}: {', '.join(p for p in parts if p)}.")


@click.command()
@click.argument("model")
@backend_option
@json_option
@pass_context
@handle_errors
def inspect(ctx: _Context, model: str, backend: str | None, as_json: bool) -> None:
    """Show what the backend knows of MODEL: its context window, tools, vision, details."""
    info = _with_adapter(ctx, backend, lambda adapter: adapter.inspect(model))
    if as_json:
        echo_json(info.to_dict())
        return
    rows: list[tuple[str, object]] = [
        ("name", info.name),
        ("backend", info.backend),
        ("context window", "unknown" if info.context_window is None else info.context_window),
        ("tools", yes_no(info.tools, "unknown")),
        ("vision", yes_no(info.vision, "unknown")),
        *info.details.items(),
    ]
    echo_table(["FIELD", "VALUE"], [[_shown(key), _shown(value)] for key, value in rows])


@click.command()
@backend_option
@json_option
@pass_context
@handle_errors
def df(ctx: _Context, backend: str | None, as_json: bool) -> None:
    """Show the disk space the server's models (and its engine) take (the server's `df`)."""
    usage = _with_adapter(ctx, backend, lambda adapter: adapter.disk_usage())
    if as_json:
        echo_json(usage.to_dict())
        return
    if usage.runners:  # a backend with several servers: each one's rows
        rows = [[_shown(part.runner), a, b] for part in usage.runners for a, b in _usage_rows(part)]
        echo_table(["RUNNER", "TYPE", "SIZE"], rows)
        return
    echo_table(["TYPE", "SIZE"], _usage_rows(usage))


def _usage_rows(usage: DiskUsage) -> list[list[str]]:
    """``df``'s rows for one server: as it printed them, else its byte counts made readable."""
    rows = [list(row) for row in usage.shown] or [
        [label, _human_bytes(value)]
        for label, value in (("Models", usage.models_bytes), ("Inference engine", usage.engine_bytes))
        if value is not None
    ]
    return [[_shown(a), _shown(b)] for a, b in rows]


COMMANDS = [ps, preload, unload, configure, inspect, df]
