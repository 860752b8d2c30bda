"""Configuration from the environment: the seed's variables plus ultra-llm's own.

Built only when needed (``load_config()``), never at import: pydantic-settings costs ~90 ms.
A bad value raises ``ConfigurationError`` naming the variable, the value and what is allowed.
``describe_settings`` tells, for ``ultra-llm config``, where each value came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigurationError

__all__ = [
    "RUNNER_TYPE_BACKENDS",
    "SettingRow",
    "UltraConfig",
    "describe_settings",
    "load_config",
    "load_settings",
]

RUNNER_TYPE_BACKENDS: dict[str, str] = {
    "cli": "docker-cli",
    "api": "docker-api",
    "docker-cli": "docker-cli",
    "docker-api": "docker-api",
}
"""``MODEL_RUNNER_TYPE`` values and the backend each selects."""


class UltraConfig(BaseSettings):
    """The core settings. Each field's ``validation_alias`` is its environment variable."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", populate_by_name=True)

    use_model_runner: bool = Field(
        False,
        validation_alias="USE_MODEL_RUNNER",
        description="Use Docker Model Runner (true) or the mock backend (false), as in the seed.",
    )
    model_runner_type: str = Field(
        "cli",
        validation_alias="MODEL_RUNNER_TYPE",
        description="Which Docker Model Runner backend: `cli` (docker-cli) or `api` (docker-api).",
    )
    backend: str | None = Field(
        None,
        validation_alias="ULTRA_LLM_BACKEND",
        description="Any registered backend by name (third-party ones too); wins over the two above.",
    )
    default_model: str = Field(
        "ai/smollm2",
        validation_alias=AliasChoices("DEFAULT_MODEL", "DEFAULT_LOCAL_MODEL"),
        description="Model used when a call names none (Ultra's DEFAULT_LOCAL_MODEL is read too).",
    )
    fallback: str = Field(
        "mock",
        validation_alias="ULTRA_LLM_FALLBACK",
        description="Backend to fall back to when the selected one is unavailable, or `none` to fail.",
    )
    timeout: float = Field(
        300.0,
        gt=0,
        validation_alias="ULTRA_LLM_TIMEOUT",
        description="Seconds one whole generation may take, first token to last.",
    )
    first_token_timeout: float = Field(
        120.0,
        gt=0,
        validation_alias="ULTRA_LLM_FIRST_TOKEN_TIMEOUT",
        description="Seconds to wait for the first token (a cold model load takes tens of seconds).",
    )
    check_timeout: float = Field(
        5.0,
        gt=0,
        validation_alias="ULTRA_LLM_CHECK_TIMEOUT",
        description="Seconds an availability check may take.",
    )
    load_plugins: str | None = Field(
        None,
        validation_alias="ULTRA_LLM_LOAD_PLUGINS",
        description="Comma-separated allow-list of plugins to load (empty: none). Unset: all.",
    )
    disable_plugins: str | None = Field(
        None,
        validation_alias="ULTRA_LLM_DISABLE_PLUGINS",
        description="Comma-separated plugins not to load.",
    )
    strict_plugins: bool = Field(
        False,
        validation_alias="ULTRA_LLM_STRICT_PLUGINS",
        description="Make a plugin that fails to load a fatal error.",
    )

    @field_validator("model_runner_type", mode="before")
    @classmethod
    def _runner_type(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text not in RUNNER_TYPE_BACKENDS:
            raise ValueError(f"must be one of: {', '.join(RUNNER_TYPE_BACKENDS)}")
        return text

    @field_validator("backend", "fallback", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("fallback", mode="after")
    @classmethod
    def _fallback(cls, value: str | None) -> str:
        return "none" if value is None else value.lower()

    @property
    def runner_backend(self) -> str:
        """The backend name ``MODEL_RUNNER_TYPE`` selects."""
        return RUNNER_TYPE_BACKENDS[self.model_runner_type]


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def _env_name(model: type[BaseSettings], field_name: str) -> str:
    alias = model.model_fields[field_name].validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    prefix = str(model.model_config.get("env_prefix", ""))
    return f"{prefix}{field_name}".upper()


def load_settings(model: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build ``model`` from the environment; turn a validation error into ``ConfigurationError``."""
    try:
        return model(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field_name = next((str(part) for part in error["loc"] if isinstance(part, str)), "")
            variable = _env_name(model, field_name) if field_name in model.model_fields else field_name
            value = error.get("input")
            allowed = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{variable}={value!r} is not allowed: {allowed}")
        raise ConfigurationError(
            "Invalid configuration: " + "; ".join(problems) + ".",
            fix="Correct the variable or unset it to use the default; `ultra-llm config` lists them.",
        ) from exc


def load_config(**overrides: Any) -> UltraConfig:
    """The core configuration from the environment (``overrides`` by field name win)."""
    return load_settings(UltraConfig, **overrides)


@dataclass(frozen=True)
class SettingRow:
    """One line of ``ultra-llm config``: variable, effective value, where it came from, meaning."""

    variable: str
    value: Any
    source: str
    description: str


_SECRET_SUFFIXES = ("token", "secret", "password", "api_key", "apikey", "authorization")


def _is_secret(field_name: str, value: Any) -> bool:
    from pydantic import SecretBytes, SecretStr

    return isinstance(value, (SecretStr, SecretBytes)) or field_name.lower().endswith(_SECRET_SUFFIXES)


def describe_settings(settings: BaseSettings, environ: Mapping[str, str] | None = None) -> list[SettingRow]:
    """Rows describing ``settings``: each variable, its value (secrets masked) and its source."""
    env = {key.upper(): value for key, value in (os.environ if environ is None else environ).items()}
    model = type(settings)
    rows = []
    for field_name, info in model.model_fields.items():
        alias = info.validation_alias
        names = [str(n) for n in alias.choices] if isinstance(alias, AliasChoices) else [_env_name(model, field_name)]
        present = next((name for name in names if name.upper() in env), None)
        value = getattr(settings, field_name)
        if value is not None and _is_secret(field_name, value):
            value = "***"
        rows.append(
            SettingRow(
                variable=names[0],
                value=value,
                source=f"environment ({present})" if present else "default",
                description=info.description or "",
            )
        )
    return rows
