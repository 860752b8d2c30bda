"""The seed's selection variables, the family's own: ``USE_MODEL_RUNNER`` and ``MODEL_RUNNER_TYPE``.

Registered through ``ultra_llm_register_settings`` (``ultra-llm config`` lists them under ``docker``)
and read by the family's ``ultra_llm_select_backend``; the kernel does not know them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ultra_llm.plugin import Settings, setting

__all__ = ["SelectionSettings"]


def _runner_type(value: str) -> str:
    return value.strip().lower() or "cli"


@dataclass(frozen=True)
class SelectionSettings(Settings):
    """Which Docker Model Runner backend the seed's variables select."""

    use_model_runner: bool = setting(
        False,
        env="USE_MODEL_RUNNER",
        help="Use Docker Model Runner (true) or the stand-in backend (false), as in the seed; "
        "ULTRA_LLM_BACKEND wins over it.",
    )
    model_runner_type: str = setting(
        "cli",
        env="MODEL_RUNNER_TYPE",
        help="Which Docker Model Runner backend, by name or alias (the seed's `cli` and `api`).",
        check=_runner_type,
    )
