"""What plugin code may raise that is not the plugin's fault.

Cancellation and Ctrl-C propagate as they are; anything else untyped a plugin raises, any
``BaseException`` (``SystemExit`` from a ``sys.exit()`` included), becomes a ``PluginError`` where
the core calls the plugin, so no plugin can stop the process serving the call.
"""

from __future__ import annotations

import asyncio

__all__ = ["PASS_THROUGH"]

PASS_THROUGH: tuple[type[BaseException], ...] = (asyncio.CancelledError, KeyboardInterrupt)
"""The exceptions from plugin code the core lets through untyped."""
