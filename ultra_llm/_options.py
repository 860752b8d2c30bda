"""Generation options: validated against the backend's own pydantic model.

An option the backend does not support is an ``InvalidOptionsError`` naming the ones it does;
``parse_option_pairs`` turns the CLI's ``-o key=value`` pairs into values pydantic can coerce.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._json_depth import JSONDepthError, json_loads
from .errors import InvalidOptionsError, UnsupportedOperationError

if TYPE_CHECKING:
    from ._backend import Backend

__all__ = ["FEATURE_OPTIONS", "RESERVED_OPTIONS", "check_caller_options", "parse_option_pairs", "validate_options"]

FEATURE_OPTIONS = ("tools", "tool_choice", "response_format", "reasoning", "reasoning_budget")
"""The call options that are request features (``ultra_llm._features``), not backend options."""

RESERVED_OPTIONS = ("model", "system_message", "progress", "conversation", "fallback_models", *FEATURE_OPTIONS)
"""Keys the adapter reads from its call's options, not the backend's; the CLI and the web API take
them as their own flags and fields (``-m``, ``--system``, ``--conversation``, ``--tools``, ``--schema``;
``model``, ``system_message``, ``conversation``, ``tools``, ``response_format`` ...) only."""


def check_caller_options(options: Mapping[str, Any], where: str) -> None:
    """Refuse (``InvalidOptionsError``) backend options from outside (``-o``, the web API's ``options``)
    that use a reserved key or hold text that is not valid; ``where`` says how they were given."""
    reserved = sorted(key for key in options if key in RESERVED_OPTIONS)
    if reserved:
        raise InvalidOptionsError(
            f"{', '.join(reserved)} cannot be set through {where}: reserved for the request itself.",
            fix="Use the request's own flags and fields (CLI: -m/--model, --system, --conversation, "
            "--fallback-model, --tools, --tool-choice, --schema, --reasoning/--no-reasoning, --reasoning-budget; "
            "web API: the `model`, `system_message`, `conversation`, `fallback_models`, `tools`, `tool_choice`, "
            "`response_format`, `reasoning` and `reasoning_budget` fields).",
        )
    from ._text import require_text

    require_text(dict(options), f"the options given through {where}")


def validate_options(backend: type[Backend], options: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Validate ``options`` with the backend's options model: the model instance and the set values.

    No options: ``(None, {})``, with nothing imported or built (a pydantic model costs tens of
    milliseconds at start-up). Raises ``InvalidOptionsError`` for unknown options (naming the
    supported ones) and bad values.
    """
    if not options:
        return None, {}
    from pydantic import ValidationError

    model = backend.options_class()
    name = backend.name
    if model is None:
        raise InvalidOptionsError(
            f"Backend '{name}' accepts no generation options, got: {', '.join(sorted(options))}.",
            fix=backend.options_hint or "Call it without options.",
            backend=name,
        )
    key = _cache_key(model, options)
    if key is not None and (known := _VALIDATED.get(key)) is not None:
        return known[0], dict(known[1])
    try:
        instance = model.model_validate(dict(options))
    except ValidationError as exc:
        supported = ", ".join(sorted(model.model_fields)) or "none"
        # An unknown key inside an option's own object (``stream_options.other``) is a bad value of that option.
        top_level = [e for e in exc.errors() if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
        unknown = sorted(str(e["loc"][0]) for e in top_level)
        if unknown:
            _refuse_what_it_cannot_give(backend, unknown, options)
            hint = backend.options_hint
            raise InvalidOptionsError(
                f"Backend '{name}' does not support the option(s) {', '.join(unknown)}; it supports: {supported}.",
                fix=hint or f"Use only: {supported}.",
                backend=name,
            ) from exc
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}={e.get('input')!r}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidOptionsError(
            f"Invalid option value for backend '{name}': {problems}.",
            fix=f"Correct the value; supported options: {supported}.",
            backend=name,
        ) from exc
    values = instance.model_dump(exclude_none=True, exclude_unset=True)
    if key is not None:
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.pop(next(iter(_VALIDATED)))  # the oldest
        _VALIDATED[key] = (instance, values)
    return instance, dict(values)


_SHAPE_OPTIONS = {
    "n": "give several answers to one request",
    "logprobs": "give the log probabilities of its tokens",
    "top_logprobs": "give the log probabilities of its tokens",
}
"""The options that change what a ``Result`` holds (``choices``, ``logprobs``): a backend whose
options model lacks one cannot give it, which is said as a refusal, not as an unknown option."""


def _refuse_what_it_cannot_give(backend: type[Backend], unknown: list[str], options: Mapping[str, Any]) -> None:
    """``UnsupportedOperationError`` when an unknown option asks for a result the backend cannot give
    (``n`` above 1, ``logprobs``); otherwise nothing (the caller says the option is unknown)."""
    for option in unknown:
        what = _SHAPE_OPTIONS.get(option)
        value = options[option]
        if what is None or value is None or value is False or (option == "n" and value == 1):
            continue  # asks for nothing more than one plain answer
        raise UnsupportedOperationError(
            f"Backend '{backend.name}' cannot {what} ({option}={value!r}).",
            fix="Use a backend that can (`ultra-llm backends` lists each backend's options)"
            + (", or ask n times (`generate_many`)." if option == "n" else "."),
            backend=backend.name,
        )


_VALIDATED: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}
"""Options already validated, by model and values: a frozen model's instance is shared (it cannot
change), so a repeated call (a batch, a server's steady traffic) skips pydantic."""
_VALIDATED_MAX = 256
_FLAT = (str, int, float, bool, type(None))


def _cache_key(model: type[Any], options: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The key of ``options`` for a frozen pydantic ``model`` when every value is flat (typed, so
    ``0``, ``0.0`` and ``False`` differ); ``None``: not cached."""
    if not getattr(model, "model_config", {}).get("frozen"):
        return None
    key: list[Any] = [model]
    for name, value in options.items():
        if not isinstance(value, _FLAT):
            return None
        key.append((name, type(value), value))
    return tuple(key)


def parse_option_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    """``["temperature=0", "stop=[\\"a\\"]"]`` -> ``{"temperature": 0, "stop": ["a"]}``.

    A value that parses as JSON is taken as such, anything else as a string; a pair without ``=``,
    with an empty key, a reserved key, text that is not valid or JSON nested deeper than
    ``MAX_JSON_DEPTH`` is an ``InvalidOptionsError``.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidOptionsError(
                f"Option '{pair}' is not key=value.", fix="Write options as -o key=value, e.g. -o temperature=0."
            )
        try:
            value: Any = json_loads(raw)
        except JSONDepthError as exc:
            raise InvalidOptionsError(f"Option '{key}' is JSON {exc}.", fix="Pass a flatter value.") from None
        except ValueError:
            value = raw
        options[key] = value
    check_caller_options(options, "-o")
    return options
