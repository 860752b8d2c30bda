"""``doctor``: walk the setup step by step, print each check and, where it fails, the fix.

The checks themselves are ``ultra_llm._status.run_checks``; with ``--smoke`` they also generate once
whole and once streamed, as the seed's verification scripts did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .context import _Context, handle_errors, pass_context, run_async
from .terminal import neutralise

if TYPE_CHECKING:
    from .._types import Check


def echo_check(check: Check) -> None:
    """Print one check as ``[ok  ] title: detail`` with its fix under a failure (control characters
    in them, such as a server's escape sequences, shown as ``\\xNN``)."""
    if check.ok:
        mark = click.style("ok  ", fg="green")
    else:
        mark = click.style("FAIL" if check.required else "warn", fg="red" if check.required else "yellow")
    click.echo(f"[{mark}] {check.title}" + (f": {neutralise(check.detail)}" if check.detail else ""))
    if not check.ok and check.fix:
        click.echo(f"       fix: {neutralise(check.fix)}")


@click.command()
@click.option("--smoke", is_flag=True, help="Also generate once whole and once streamed.")
@click.option("--backend", "-b", default=None, help="Check this backend instead of the configured one.")
@pass_context
@handle_errors
def doctor(ctx: _Context, smoke: bool, backend: str | None) -> None:
    """Check the setup step by step and print the fix for what fails."""
    from .._status import run_checks

    checks = run_async(run_checks(ctx.host, backend=backend, smoke=smoke, on_check=echo_check))
    failed = [check for check in checks if not check.ok and check.required]
    warned = [check for check in checks if not check.ok and not check.required]
    click.echo()
    if failed:
        click.secho(f"{len(failed)} check(s) failed.", fg="red")
        raise SystemExit(1)
    if warned:  # a plugin that failed (skipped): the setup works, without it
        click.secho(f"All required checks passed, with {len(warned)} warning(s) above.", fg="yellow")
        return
    click.secho("All checks passed.", fg="green")


COMMANDS = [doctor]
