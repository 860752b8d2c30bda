"""``doctor``: walk the setup step by step, print each check and, where it fails, the fix.

With ``--smoke`` it also generates once whole and once streamed, as the seed's verification
scripts did.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from typing import Any

import click

from ..errors import UltraLLMError
from .app import _Context, handle_errors, pass_context, run_async


@dataclass
class Step:
    """One check: its title, whether it passed, what was found, and the fix when it failed."""

    title: str
    ok: bool
    detail: str = ""
    fix: str = ""
    required: bool = True

    def echo(self) -> None:
        mark = (
            click.style("ok  ", fg="green")
            if self.ok
            else click.style("FAIL" if self.required else "warn", fg="red" if self.required else "yellow")
        )
        click.echo(f"[{mark}] {self.title}" + (f": {self.detail}" if self.detail else ""))
        if not self.ok and self.fix:
            click.echo(f"       fix: {self.fix}")


def _diagnostic_steps(backend: Any) -> list[Step]:
    """``backend.diagnostics()`` as steps: one per item of a list of objects, one per other value (never raises)."""
    try:
        found = backend.diagnostics()
    except Exception as error:
        return [Step("diagnostics", False, f"{type(error).__name__}: {error}", required=False)]
    steps: list[Step] = []
    for key, value in (found or {}).items():
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                label = item.get("url") or item.get("name") or index
                healthy = bool(item.get("healthy", True))
                detail = ", ".join(
                    f"{k} {v}"
                    for k, v in item.items()
                    if k not in ("url", "name", "healthy") and v not in (None, False)
                )
                steps.append(
                    Step(f"{key.removesuffix('s')} {label}", healthy, detail, "It is skipped while it fails.", False)
                )
        else:
            steps.append(Step(str(key), True, str(value), required=False))
    return steps


def _from_error(title: str, error: Exception, required: bool = True) -> Step:
    if isinstance(error, UltraLLMError):
        return Step(title, False, error.message, error.fix, required)
    return Step(title, False, f"{type(error).__name__}: {error}", "Run with --debug for details.", required)


async def _walk(ctx: _Context, smoke: bool, backend_name: str | None) -> list[Step]:
    from .. import __version__
    from ..adapter import Adapter
    from ..config import load_config
    from ..selection import check_backend, choose_backend_name, instantiate

    steps: list[Step] = []

    def add(step: Step) -> Step:
        steps.append(step)
        step.echo()
        return step

    add(Step("ultra-llm", True, f"{__version__} on Python {platform.python_version()}"))
    host = ctx.host
    host.load()
    specs = host.backends()
    failed = [r for r in host.records.values() if r.status == "failed"]
    add(
        Step(
            "plugins",
            not failed,
            f"{sum(r.status == 'loaded' for r in host.records.values())} loaded, backends: {', '.join(sorted(specs))}"
            + (f"; failed: {', '.join(f'{r.name} ({r.error})' for r in failed)}" if failed else ""),
            "Fix or uninstall the failing plugin, or skip it with ULTRA_LLM_DISABLE_PLUGINS=<name>.",
            required=False,
        )
    )
    try:
        config = load_config()
    except UltraLLMError as error:
        add(_from_error("configuration", error))
        return steps
    requested, reason = (backend_name, "--backend") if backend_name else choose_backend_name(config)
    add(
        Step(
            "configuration",
            True,
            f"backend '{requested}' ({reason}), model '{config.default_model}', fallback '{config.fallback}'",
        )
    )
    try:
        backend = instantiate(host, requested, config)
    except UltraLLMError as error:
        add(_from_error(f"backend '{requested}'", error))
        return steps
    try:
        availability = await check_backend(backend, config.check_timeout)
        if availability.available:
            add(Step(f"backend '{backend.name}' available", True, availability.detail))
        else:
            problem = availability.error or RuntimeError(availability.detail)
            add(_from_error(f"backend '{backend.name}' available", problem))
        for step in _diagnostic_steps(backend):
            add(step)
        if not availability.available:
            return steps
        from ..selection import Selection

        adapter = Adapter(
            host,
            backend,
            model=config.default_model,
            config=config,
            selection=Selection(backend.name, reason, backend.name, availability),
        )
        try:
            names = await adapter.get_available_models()
            add(Step("models", True, f"{len(names)} found" + (f": {', '.join(names[:8])}" if names else "")))
            if adapter.model not in names and backend.name != "mock":
                add(
                    Step(
                        f"default model '{adapter.model}'",
                        False,
                        "not found locally",
                        f"docker model pull {adapter.model} (or `ultra-llm pull {adapter.model}`)",
                        required=False,
                    )
                )
        except Exception as error:
            add(_from_error("models", error))
            return steps
        if smoke:
            started = time.perf_counter()
            try:
                text = await adapter.generate("Say hello in one short sentence.")
                add(Step("generate", bool(text), f"{len(text)} characters in {time.perf_counter() - started:.2f} s"))
                started = time.perf_counter()
                chunks = [c async for c in adapter.stream_generate("Say hello in one short sentence.")]
                add(Step("stream", bool(chunks), f"{len(chunks)} chunks in {time.perf_counter() - started:.2f} s"))
            except Exception as error:
                add(_from_error("generate", error))
    finally:
        await backend.aclose()
    return steps


@click.command()
@click.option("--smoke", is_flag=True, help="Also generate once whole and once streamed.")
@click.option("--backend", "-b", default=None, help="Check this backend instead of the configured one.")
@pass_context
@handle_errors
def doctor(ctx: _Context, smoke: bool, backend: str | None) -> None:
    """Check the setup step by step and print the fix for what fails."""
    steps = run_async(_walk(ctx, smoke, backend))
    failed = [step for step in steps if not step.ok and step.required]
    click.echo()
    if failed:
        click.secho(f"{len(failed)} check(s) failed.", fg="red")
        raise SystemExit(1)
    click.secho("All checks passed.", fg="green")


COMMANDS = [doctor]
