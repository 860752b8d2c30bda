"""The entry-point module: the hooks ultra-llm calls. Keep it light.

(The ``# --8<--`` comments mark the parts the documentation site quotes; drop them in a copy.)

ultra-llm imports this module for ``ultra-llm plugins``, ``--help`` and every start-up, so it
imports only the standard library and ``ultra_llm``'s light public names. The backend (and its
pydantic models) is named by a ``"module:Class"`` string and imported only when it is used.

Two hooks live here:

* ``ultra_llm_register_backends`` registers the ``shout`` backend.
* ``ultra_llm_middleware`` returns ``TimingMiddleware`` (in ``timing.py``, imported when an
  adapter is made) for every adapter, on every backend (not only ours): it times each generation
  and logs one line through ``logging``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ultra_llm.plugin import hookimpl

if TYPE_CHECKING:  # types only: nothing below is imported at run time
    from ultra_llm.plugin import Backend, BackendRegistrar, Middleware

__all__ = ["ultra_llm_middleware", "ultra_llm_register_backends"]


# --8<-- [start:register]
@hookimpl
def ultra_llm_register_backends(register: BackendRegistrar) -> None:
    """Register the ``shout`` backend, lazily: the string is imported on first use, not now."""
    register(
        "shout",
        "ultra_llm_example.backend:ShoutBackend",
        summary="Answers by shouting (or reversing) the prompt: an example backend.",
        aliases=["example-shout"],
    )


# --8<-- [end:register]


# --8<-- [start:middleware-hook]
@hookimpl
def ultra_llm_middleware(backend: Backend) -> Middleware:
    """Time every generation on every backend (called once per adapter, not per request).

    The middleware class lives in its own module, imported here: this module is imported at every
    start-up and stays light.
    """
    from .timing import TimingMiddleware

    return TimingMiddleware(backend.name)


# --8<-- [end:middleware-hook]
