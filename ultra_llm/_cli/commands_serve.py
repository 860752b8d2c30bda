"""``serve``: run the web API and console with uvicorn (the ``web`` extra).

Binds 127.0.0.1 by default. Any other address needs ``ULTRA_LLM_WEB_TOKEN`` (never a flag: flags
show in ``ps``). Nothing web-related is imported until the command runs.
"""

from __future__ import annotations

from typing import Any

import click

from ..errors import ConfigurationError
from .context import _Context, handle_errors, pass_context

DEFAULT_PORT = 8765
SHUTDOWN_GRACE = 5
"""Seconds requests still running get to finish once the server is stopped (SIGTERM, SIGHUP, Ctrl-C):
then they are cancelled and the backends closed, within the 10 s service managers give before SIGKILL."""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; non-loopback needs a token.")
@click.option("--port", "-p", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="Allow this browser origin to call the API (repeatable; default: CORS off). Also ULTRA_LLM_WEB_CORS_ORIGINS.",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(1024),
    default=None,
    help="Largest request body accepted (default 11 MiB; ULTRA_LLM_WEB_MAX_BODY_BYTES).",
)
@click.option(
    "--allowed-host", "allowed_hosts", multiple=True, help="Extra Host header value accepted without a token."
)
@click.option("--no-console", is_flag=True, help="Serve the API only, not the web page at /.")
@click.option("--log-level", default="info", show_default=True, help="uvicorn's log level.")
@pass_context
@handle_errors
def serve(
    ctx: _Context,
    host: str,
    port: int,
    cors_origins: tuple[str, ...],
    max_body_bytes: int | None,
    allowed_hosts: tuple[str, ...],
    no_console: bool,
    log_level: str,
) -> None:
    """Serve the model-management API (/api) and the web console (/) with uvicorn.

    Binding anything but 127.0.0.1/localhost requires ULTRA_LLM_WEB_TOKEN; clients then send
    `Authorization: Bearer <token>`.
    """
    try:
        import uvicorn

        from ..web import create_app
        from ..web._settings import WebSettings
    except ImportError as exc:
        raise ConfigurationError(
            f"`ultra-llm serve` needs the web extra ({exc}).", fix="Install it: pip install 'ultra-llm[web]'."
        ) from exc
    overrides: dict[str, Any] = {}
    if cors_origins:
        overrides["cors_origins"] = ",".join(cors_origins)
    if max_body_bytes is not None:
        overrides["max_body_bytes"] = max_body_bytes
    if allowed_hosts:
        overrides["allowed_hosts"] = ",".join(allowed_hosts)
    settings = WebSettings.load(**overrides)
    app = create_app(settings=settings, host=ctx.host, console=not no_console, bind_host=host)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    click.echo(f"ultra-llm console: {url}" + ("  (API needs the bearer token)" if settings.token else ""), err=True)
    from .stop_signals import serve_stoppable

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    serve_stoppable(uvicorn.Server(config))


COMMANDS = [serve]
