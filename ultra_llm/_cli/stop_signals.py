"""SIGTERM and SIGHUP stop a command the way Ctrl-C does, so nothing outlives it.

``run_stoppable(coro)`` runs a command's coroutine with handlers for SIGTERM and SIGHUP (``timeout``,
``systemctl stop``, a container being stopped, a closed terminal) that cancel it. Cancelling runs every
``finally`` and ``async with`` on the way out, exactly as Ctrl-C does: a backend's child processes
are killed and reaped and its private files removed. Then the process exits with 128 + the
signal's number (143, 129), the shell's convention, and one line on stderr. The first signal
decides; a later one while the cleanup runs (bounded by the backends' own reap limits) is ignored.
Ctrl-C stays ``asyncio.run``'s: ``KeyboardInterrupt`` after the same cancellation.

``serve_stoppable(server)`` does the same for ``ultra-llm serve``: uvicorn stops on SIGINT and SIGTERM
itself, and SIGHUP is made to stop it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

__all__ = ["STOP_SIGNALS", "run_stoppable", "serve_stoppable"]

T = TypeVar("T")

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that stop a command after its cleanup (Windows has no SIGHUP)."""

STARTUP_FAILURE = 3
"""The exit code of a server that could not start (``uvicorn.run``'s)."""


def run_stoppable(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, cancelled by SIGTERM or SIGHUP, after which the process exits with
    128 + the signal's number (``SystemExit``) whatever the coroutine ended with."""
    received: list[int] = []

    async def main() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def stop(signum: int) -> None:
            if received:  # the cleanup of the first one is running
                return
            received.append(signum)
            if task is not None:
                task.cancel()

        for signum in STOP_SIGNALS:
            # not in the main thread (a command invoked from a test's thread): the default stays
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(signum, stop, signum)
        return await coro  # the loop's close() removes the handlers

    try:
        return asyncio.run(main())
    finally:
        if received:
            _exit_for(received[0])


def _exit_for(signum: int) -> NoReturn:
    """Say which signal stopped the command and exit with 128 + its number.

    A terminal that hung up takes no more output: what cannot be written is dropped, and stdout is
    pointed at ``/dev/null`` so the interpreter's final flush cannot fail (exit 120) instead."""
    name = signal.Signals(signum).name
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"\nStopped by {name}.\n")
        sys.stderr.flush()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, stream.fileno())
                os.close(null)
    raise SystemExit(128 + signum)


def serve_stoppable(server: Any) -> None:
    """``server.run()`` for a ``uvicorn.Server``, which stops gracefully on SIGINT and SIGTERM (its own
    handlers: requests still running get the server's graceful-shutdown time, then are cancelled, then
    the app's lifespan closes the backends); SIGHUP is made to stop it the same way, then exits 129."""
    logging.getLogger("uvicorn.error").addFilter(_cancelled_at_shutdown)
    hung_up: list[int] = []

    def hang_up(signum: int, frame: Any) -> None:
        hung_up.append(signum)
        server.handle_exit(signum, frame)

    previous = signal.signal(signal.SIGHUP, hang_up) if hasattr(signal, "SIGHUP") else None
    try:
        server.run()  # uvicorn raises the signals it caught again at the end: this handler takes SIGHUP's
    except KeyboardInterrupt:  # Ctrl-C's, raised again: a clean stop, as `uvicorn.run` has it
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGHUP, previous)
    if hung_up:
        _exit_for(signal.SIGHUP)
    if not server.started:  # it could not start (the port taken, say): uvicorn has said why
        raise SystemExit(STARTUP_FAILURE)


def _cancelled_at_shutdown(record: logging.LogRecord) -> bool:
    """uvicorn's log of a request it cancelled at the end of the graceful shutdown: one line, not
    "Exception in ASGI application" and a traceback."""
    if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
        record.msg, record.args = "A request still running when the server stopped was cancelled.", ()
        record.exc_info, record.exc_text = None, None
    return True
