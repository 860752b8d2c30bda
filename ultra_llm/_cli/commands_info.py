"""``plugins``, ``backends`` and ``config``: what is installed, what is selected, what is set."""

from __future__ import annotations

import click

from .context import _Context, handle_errors, pass_context, run_async
from .output import echo_json, echo_table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@handle_errors
def plugins(ctx: _Context, as_json: bool) -> None:
    """List plugins: distribution and version, hooks, backends, status; under the table why each
    failed one failed and what is wrong with a working one (each also warned about on stderr).
    ``ultra_llm_register_models`` runs for each backend first, so a plugin failing there shows as
    failed; middleware needs a backend built, so ``ultra-llm doctor`` checks it."""
    host = ctx.host
    host.load()
    host.backends()
    host.hooks.exercise_models()
    records = [record.to_dict() for record in host.records.values()]
    if as_json:
        echo_json(records)
        return
    echo_table(
        ["NAME", "DISTRIBUTION", "VERSION", "STATUS", "BACKENDS", "HOOKS"],
        [
            [r["name"], r["distribution"], r["version"], r["status"], ",".join(r["backends"]), ",".join(r["hooks"])]
            for r in records
        ],
    )
    for r in records:
        for said in ([r["error"]] if r["error"] else []) + r["warnings"]:
            click.echo(f"  {r['name']}: {said}")
    if any("ultra_llm_middleware" in r["hooks"] for r in records):
        click.echo("Middleware runs against a backend: `ultra-llm doctor` checks it on the selected one.")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@handle_errors
def backends(ctx: _Context, as_json: bool) -> None:
    """List backends: which is selected and why, which are available and why not."""
    from .._config import load_config
    from .._status import describe_backends

    report = run_async(describe_backends(ctx.host, load_config()))
    rows, selection = report["backends"], report["selection"]
    if as_json:
        echo_json({"selection": selection, "backends": rows})
        return
    echo_table(
        ["", "BACKEND", "PLUGIN", "AVAILABLE", "FEATURES", "OPTIONS", "SUMMARY"],
        [
            [
                ("*" if r["selected"] else "") + ("!" if r["conflicts"] else ""),
                r["name"],
                r["plugin"],
                "yes" if r["available"] else "no",
                _features(r["capabilities"] or {}),
                ",".join((r["capabilities"] or {}).get("options", [])) or "-",
                r["summary"],
            ]
            for r in rows
        ],
    )
    click.echo()
    click.echo(f"Requested: {selection['requested']} ({selection['reason']})")
    if selection["serving"] is None:
        click.echo(f"Serving:   nothing (ULTRA_LLM_FALLBACK=none): {selection['fallback_reason']}")
    elif selection["fallback_reason"]:
        click.echo(f"Serving:   {selection['serving']} (fallback: {selection['fallback_reason']})")
    else:
        click.echo(f"Serving:   {selection['serving']}")
    for row in rows:
        if not row["available"]:
            click.echo(f"  {row['name']}: {row['reason']}" + (f" Fix: {row['fix']}" if row["fix"] else ""))
    for row in rows:  # "!": a name two plugins register (the first in load order keeps it)
        for conflict in row["conflicts"]:
            click.echo(f"! {row['name']}: {conflict}")
    for row in rows:
        endpoints = row.get("diagnostics", {}).get("endpoints")
        if isinstance(endpoints, list) and len(endpoints) > 1:
            click.echo(f"{row['name']} endpoints:")
            for item in endpoints:
                if isinstance(item, dict):
                    state = "ejected" if item.get("ejected") else ("healthy" if item.get("healthy") else "failing")
                    click.echo(
                        f"  {item.get('url')}: {state}" + (f" ({item['last_error']})" if item.get("last_error") else "")
                    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@handle_errors
def config(ctx: _Context, as_json: bool) -> None:
    """Show the effective configuration and where each value came from."""
    from .._status import settings_sections

    sections = {name: [row.to_dict() for row in rows] for name, rows in settings_sections(ctx.host).items()}
    if as_json:
        echo_json(sections)
        return
    for section, rows in sections.items():
        click.secho(f"[{section}]", bold=True)
        echo_table(
            ["VARIABLE", "VALUE", "SOURCE", "MEANING"],
            [[r["variable"], r["value"], r["source"], r["description"]] for r in rows],
        )
        click.echo()


COMMANDS = [plugins, backends, config]


_FEATURE_NAMES = {
    "tools": "tools",
    "response_format": "schema",
    "images": "images",
    "reasoning_control": "reasoning",
    "embeddings": "embed",
    "store": "store",
    "lifecycle": "lifecycle",
}
"""The capability keys ``backends`` shows, and their short names in its FEATURES column."""


def _features(capabilities: dict[str, object]) -> str:
    """The backend's declared features, short names joined by commas (``-`` for none)."""
    return ",".join(short for key, short in _FEATURE_NAMES.items() if capabilities.get(key)) or "-"
