"""The entry-point module: registers the backend, imports nothing heavy.

The backend class is named as a string, so it (and pydantic) is imported only when used.
"""

from __future__ import annotations

from ultra_llm.plugin import BackendRegistrar, hookimpl


@hookimpl
def ultra_llm_register_backends(register: BackendRegistrar) -> None:
    """Register the ``mock`` backend, the stand-in that serves when no runner is used or available."""
    register(
        "mock",
        "ultra_llm_mock.backend:MockBackend",
        summary="Deterministic answers with no runner: echo and fixed-text models, tool calls, JSON for a "
        "schema, image acknowledgement, reasoning, fault injection.",
        stand_in=True,
    )
