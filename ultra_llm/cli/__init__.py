"""The ``ultra-llm`` command line: built in a function, never at import."""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: build the click app and run it."""
    from .app import build_cli

    build_cli().main(args=argv, prog_name="ultra-llm")
