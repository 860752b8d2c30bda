"""The ``ultra-llm`` command line: built in a function, never at import."""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: build the click app and run it."""
    from ..errors import UltraLLMError
    from .app import _configure_logging, build_cli

    _configure_logging(debug=False)  # a plugin failing while the commands are built warns as "Warning: ..."
    try:
        cli = build_cli()
    except UltraLLMError as error:  # a strict-mode plugin failure while plugins add their commands
        from .output import print_error

        print_error(error)
        raise SystemExit(error.exit_code) from None
    cli.main(args=argv, prog_name="ultra-llm")
