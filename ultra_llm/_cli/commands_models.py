"""``models``, ``pull`` and ``rm``: discovery and model management on a backend."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .context import _Context, command_adapter, handle_errors, pass_context, run_async
from .output import ProgressDisplay, echo_json, echo_table, yes_no
from .terminal import for_stream

if TYPE_CHECKING:
    pass

backend_option = click.option("--backend", "-b", default=None, help="Backend to use (default: as configured).")

OPTION_VALUE_HELP = (
    "repeatable; VALUE is read as JSON, and as text when it is not JSON "
    "(e.g. -o temperature=0.2 -o max_tokens=8 -o stop='[\"\\n\"]' -o stop=END)."
)
"""How ``-o KEY=VALUE`` reads its value (``ultra_llm._options.parse_option_pairs``), for each command's help."""


@click.command()
@backend_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@handle_errors
def models(ctx: _Context, backend: str | None, as_json: bool) -> None:
    """List the models the backend can serve, with the context window each is served with when
    known (on a model server a per-model setting: `ultra-llm configure`)."""

    async def run() -> None:
        async with await command_adapter(backend) as adapter:
            found = await adapter.list_models()
            if as_json:
                echo_json([model.to_dict() for model in found])
                return
            click.echo(f"Backend: {adapter.name}", err=True)
            keys = ["parameters", "quantization", "architecture", "size"]
            flags = [key for key in ("tools", "vision") if any(getattr(m, key) is not None for m in found)]
            shown = for_stream(sys.stdout)
            echo_table(
                ["MODEL", *[k.upper() for k in keys], "CONTEXT", *[k.upper() for k in flags]],
                [
                    [
                        *[shown(str(value)) for value in (m.name, *[m.details.get(k, "") for k in keys])],
                        "" if m.context_window is None else m.context_window,
                        *[yes_no(getattr(m, k)) for k in flags],
                    ]
                    for m in found
                ],
            )

    run_async(run())


runner_option = click.option(
    "--runner",
    "runners",
    multiple=True,
    metavar="URL",
    help="Only on this server of a backend given several (one of its URLs), repeatable; "
    "default: every one (that has the model).",
)


@click.command()
@click.argument("model")
@backend_option
@runner_option
@click.option(
    "--timeout",
    type=float,  # checked by the adapter, as generate's is
    default=None,
    metavar="SECONDS",
    help="Seconds the whole pull may take (default: no limit; a pull fails when no progress arrives for the "
    "backend's pull-idle setting).",
)
@pass_context
@handle_errors
def pull(ctx: _Context, model: str, backend: str | None, runners: tuple[str, ...], timeout: float | None) -> None:
    """Download MODEL with a progress bar."""

    async def run() -> None:
        async with await command_adapter(backend, model) as adapter:
            display = ProgressDisplay(f"Pulling {adapter.model}", unit="bytes")
            await adapter.pull(
                progress=lambda event: display.update(event.completed or 0, event.total, event.message),
                timeout=timeout,
                runners=runners,
            )
            display.finish()
            click.echo(f"Pulled {adapter.model} on {adapter.name}.")

    run_async(run())


@click.command()
@click.argument("model")
@backend_option
@pass_context
@handle_errors
def rm(ctx: _Context, model: str, backend: str | None) -> None:
    """Remove a local MODEL."""

    async def run() -> None:
        async with await command_adapter(backend) as adapter:
            await adapter.remove(model)
            click.echo(f"Removed {adapter.backend.canonical_model(model)} from {adapter.name}.")

    run_async(run())


COMMANDS = [models, pull, rm]
