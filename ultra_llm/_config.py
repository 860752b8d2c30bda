"""The core configuration: the kernel's variables (and the seed's neutral ones), read once by ``UltraConfig``.

Built only when needed (``load_config()``), never at import, by ``ultra_llm._settings`` (no
pydantic). A bad value raises ``ConfigurationError`` naming the variable, the value and what is
allowed. The plugin host's own variables are ``ultra_llm._host.HostSettings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._settings import Alias, Settings, setting

__all__ = ["UltraConfig", "load_config"]


def _name_or_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _fallback(value: str) -> str:
    return value.strip().lower() or "none"


def _chains_text(value: str | None) -> str | None:
    """``ULTRA_LLM_MODEL_FALLBACKS`` as given, once its grammar is checked (``parse_chains``)."""
    if value is None or not value.strip():
        return None
    from ._fallback import parse_chains

    parse_chains(value)
    return value.strip()


@dataclass(frozen=True)
class UltraConfig(Settings):
    """The core settings: which backend, which model, the adapter's deadlines."""

    backend: str | None = setting(
        None,
        env="ULTRA_LLM_BACKEND",
        help="Any registered backend by name or alias; wins over every plugin's choice and the stand-in.",
        check=_name_or_none,
    )
    default_model: str | None = setting(
        None,
        env="DEFAULT_MODEL",
        aliases=[Alias("DEFAULT_LOCAL_MODEL", deprecated=False)],
        help="Model used when a call names none (Ultra's DEFAULT_LOCAL_MODEL is read too); "
        "unset: the serving backend's own default.",
        check=_name_or_none,
    )
    fallback: str = setting(
        "stand-in",
        env="ULTRA_LLM_FALLBACK",
        help="Backend to fall back to when the selected one is unavailable: a name, `stand-in` "
        "(the backend a plugin registers as the stand-in) or `none` to fail.",
        check=_fallback,
    )
    timeout: float = setting(
        300.0,
        gt=0,
        env="ULTRA_LLM_TIMEOUT",
        aliases=[Alias("LOCAL_MODEL_TIMEOUT", deprecated=False, scale=0.001)],
        help="Seconds one whole call may take, a model load before answering included (a pull has no total "
        "unless the call sets one; Ultra's LOCAL_MODEL_TIMEOUT, in milliseconds, is read too).",
    )
    first_token_timeout: float = setting(
        120.0,
        gt=0,
        env="ULTRA_LLM_FIRST_TOKEN_TIMEOUT",
        help="Seconds to wait for the first token (a cold model load takes tens of seconds).",
    )
    check_timeout: float = setting(
        5.0,
        gt=0,
        env="ULTRA_LLM_CHECK_TIMEOUT",
        help="Seconds an availability check may take.",
    )
    model_fallbacks: str | None = setting(
        None,
        env="ULTRA_LLM_MODEL_FALLBACKS",
        help="Models to try when a model cannot answer (not found, its servers down or overloaded, a prompt "
        "past its context): MODEL=NEXT[,NEXT...], several separated by ';'. A call's fallback_models "
        "(--fallback-model) replaces its model's chain. Not ULTRA_LLM_FALLBACK, which picks another backend.",
        check=_chains_text,
    )
    models_held: int = setting(
        1,
        ge=1,
        env="ULTRA_LLM_MODELS_HELD",
        help="How many models one server holds loaded at once (its slots, and what its memory allows): a "
        "fan-out runs that many of a server's models together and preloads the next; 1 runs them one after "
        "another.",
    )
    model_cooldown: float = setting(
        30.0,
        ge=0,
        env="ULTRA_LLM_MODEL_COOLDOWN",
        help="Seconds a model that failed is skipped for in favour of its fallbacks (0: never skipped).",
    )


def load_config(**overrides: Any) -> UltraConfig:
    """The core configuration from the environment (``overrides`` by field name win)."""
    return UltraConfig.load(**overrides)
