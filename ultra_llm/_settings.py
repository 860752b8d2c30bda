"""Settings from environment variables: one reader, one boolean grammar, for the core and every plugin.

A settings class is a frozen dataclass subclassing ``Settings``; each field is a ``setting(...)``
with its default, its one variable (``env_prefix`` + the field's name in upper case, unless ``env``
names it), the names that keep working (``Alias``; a plain string alias is deprecated and warns
once) and its bounds::

    @dataclass(frozen=True)
    class ShoutSettings(Settings):
        env_prefix: ClassVar[str] = "ULTRA_LLM_SHOUT_"

        delay: float = setting(0.0, ge=0, le=10, help="Seconds between streamed words.")

    settings = ShoutSettings.load()  # ConfigurationError naming the variable for a bad value

Supported types: ``str``, ``int``, ``float``, ``bool``, ``Secret``, ``Literal[...]`` and any of
them ``| None``. Booleans read ``1/true/yes/on`` and ``0/false/no/off`` (any case), nothing else.
A variable set to blanks is unset, except for text (``str``) settings, where it is the empty text.
Nothing here imports pydantic: reading settings costs microseconds, not a schema build.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from ._redact import redact_urls
from .errors import ConfigurationError

__all__ = ["TRUE_WORDS", "FALSE_WORDS", "Alias", "Secret", "SettingRow", "Settings", "parse_bool", "setting"]

log = logging.getLogger("ultra_llm._settings")

TRUE_WORDS = frozenset(("1", "true", "yes", "on"))
FALSE_WORDS = frozenset(("0", "false", "no", "off"))
SettingsT = TypeVar("SettingsT", bound="Settings")
_warned: set[str] = set()


def parse_bool(text: str) -> bool:
    """The one boolean grammar: ``1/true/yes/on`` or ``0/false/no/off``, any case; ``ValueError`` else."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("must be one of 1, true, yes, on, 0, false, no, off")


class Secret:
    """A string kept out of reprs, logs and ``ultra-llm config`` (``get()`` returns it)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """The secret itself."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class Alias:
    """Another variable for a setting: deprecated (warns once) unless said otherwise; ``scale``
    converts its unit (``0.001`` reads milliseconds into seconds). The setting's own variable wins
    over its aliases, and an earlier alias over a later one. A scaled value is computed exactly and
    bounds-checked in the setting's unit; for an ``int`` setting, one that is not a whole number
    there is refused (``1`` ms is not 0 s)."""

    __slots__ = ("deprecated", "name", "scale")

    def __init__(self, name: str, deprecated: bool = True, scale: float = 1.0) -> None:
        self.name, self.deprecated, self.scale = name, deprecated, scale

    def __repr__(self) -> str:
        return f"Alias({self.name!r}, deprecated={self.deprecated}, scale={self.scale:g})"


class _Spec:
    """What ``setting()`` declared (a plain class: a dataclass costs milliseconds to create at import)."""

    __slots__ = ("aliases", "check", "env", "ge", "gt", "help", "le")

    def __init__(
        self,
        help: str,
        env: str | None,
        aliases: tuple[Alias, ...],
        ge: float | None,
        gt: float | None,
        le: float | None,
        check: Callable[[Any], Any] | None,
    ) -> None:
        self.help, self.env, self.aliases = help, env, aliases
        self.ge, self.gt, self.le, self.check = ge, gt, le, check


def setting(
    default: Any,
    *,
    help: str,
    env: str | None = None,
    aliases: Sequence[str | Alias] = (),
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    check: Callable[[Any], Any] | None = None,
) -> Any:
    """Declare a setting (a dataclass field). ``check`` gets the converted value and returns it (or
    a replacement), raising ``ValueError`` with what is allowed."""
    spec = _Spec(help, env, tuple(a if isinstance(a, Alias) else Alias(a) for a in aliases), ge, gt, le, check)
    return dataclasses.field(default=default, metadata={"ultra_llm": spec})


class SettingRow:
    """One line of ``ultra-llm config``: the variable, its value (secrets masked), where it came
    from, what it does, and the other names it is read from."""

    __slots__ = ("aliases", "description", "source", "value", "variable")

    def __init__(self, variable: str, value: Any, source: str, description: str, aliases: tuple[str, ...] = ()) -> None:
        self.variable, self.value, self.source = variable, value, source
        self.description, self.aliases = description, aliases

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {name: getattr(self, name) for name in ("variable", "value", "source", "description", "aliases")}


class _Field:
    """One setting of a class, resolved: its variable, type and declaration."""

    __slots__ = ("aliases", "default", "kind", "name", "optional", "spec", "variable")

    def __init__(
        self, name: str, variable: str, aliases: tuple[Alias, ...], kind: Any, optional: bool, default: Any, spec: _Spec
    ) -> None:
        self.name, self.variable, self.aliases, self.kind = name, variable, aliases, kind
        self.optional, self.default, self.spec = optional, default, spec


class Settings:
    """Base of every settings class (subclasses are frozen dataclasses; see the module doc)."""

    env_prefix: ClassVar[str] = ""
    _fields_cache: ClassVar[dict[type, tuple[_Field, ...]]] = {}

    @classmethod
    def fields(cls) -> tuple[_Field, ...]:
        """The settings of this class, in declaration order, with their variables and types."""
        found = Settings._fields_cache.get(cls)
        if found is None:
            hints = typing.get_type_hints(cls)
            items = []
            for field in dataclasses.fields(cls):  # type: ignore[arg-type]
                spec = field.metadata.get("ultra_llm")
                if not isinstance(spec, _Spec):
                    continue
                kind, optional = _unwrap(hints[field.name])
                variable = spec.env or f"{cls.env_prefix}{field.name}".upper()
                items.append(_Field(field.name, variable, spec.aliases, kind, optional, field.default, spec))
            found = Settings._fields_cache[cls] = tuple(items)
        return found

    @classmethod
    def load(cls: type[SettingsT], environ: Mapping[str, str] | None = None, **overrides: Any) -> SettingsT:
        """Read every setting from ``environ`` (default ``os.environ``); ``overrides`` by field name
        win. Raises ``ConfigurationError`` naming each bad variable, its value and what is allowed."""
        env = os.environ if environ is None else environ
        known = {field.name for field in cls.fields()}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigurationError(
                f"{cls.__name__} has no setting(s) {', '.join(unknown)}.",
                fix=f"Use one of: {', '.join(sorted(known))}.",
            )
        values: dict[str, Any] = {}
        problems: list[str] = []
        for field in cls.fields():
            if field.name in overrides:
                raw, scale, source = overrides[field.name], 1.0, field.variable
            else:
                found = _lookup(env, field)
                if found is None or (not found[0].strip() and field.kind is not str):
                    continue  # unset, or blank where only text may be empty: the default
                raw, scale, source = found
            try:
                values[field.name] = _convert(field, raw, scale)
            except (TypeError, ValueError) as exc:
                problems.append(f"{source}={_shown(field, raw)} is not allowed: {exc}")
        if problems:
            raise ConfigurationError(
                "Invalid configuration: " + "; ".join(problems) + ".",
                fix="Correct the variable or unset it to use the default; `ultra-llm config` lists them.",
            )
        return cls(**values)

    def describe(self, environ: Mapping[str, str] | None = None) -> list[SettingRow]:
        """A row per setting: its variable, value (secrets masked), source and description."""
        env = os.environ if environ is None else environ
        rows = []
        for field in self.fields():
            found = _lookup(env, field, warn=False)
            value = getattr(self, field.name)
            if found is not None:
                source = f"environment ({found[2]})"
            else:
                source = "default" if value == field.default else "argument"
            rows.append(
                SettingRow(
                    variable=field.variable,
                    value="***" if isinstance(value, Secret) else _redacted(value),
                    source=source,
                    description=field.spec.help,
                    aliases=tuple(alias.name for alias in field.aliases),
                )
            )
        return rows


def _redacted(value: Any) -> Any:
    return redact_urls(value) if isinstance(value, str) else value


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """``(the type, whether None is allowed)`` for ``X`` or ``X | None``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0], True
        raise TypeError(f"unsupported setting type {hint!r}")
    return hint, False


def _lookup(env: Mapping[str, str], field: _Field, *, warn: bool = True) -> tuple[str, float, str] | None:
    """``(text, scale, variable)`` for the first of the setting's variables that is set."""
    for alias in (Alias(field.variable, deprecated=False), *field.aliases):
        text = env.get(alias.name)
        if text is None:
            continue
        if alias.deprecated and warn and alias.name not in _warned:
            _warned.add(alias.name)
            log.warning("%s is deprecated: set %s instead.", alias.name, field.variable)
        return text, alias.scale, alias.name
    return None


def _shown(field: _Field, raw: Any) -> str:
    if field.kind is Secret:
        return "'***'"
    return repr(redact_urls(raw)) if isinstance(raw, str) else repr(raw)


def _convert(field: _Field, raw: Any, scale: float) -> Any:
    """``raw`` (text from the environment, or a Python value) as the field's type, bounds checked."""
    kind, spec = field.kind, field.spec
    if raw is None and field.optional:
        return None
    if isinstance(raw, str):
        raw = raw.strip()
    if kind is bool:
        value: Any = parse_bool(raw) if isinstance(raw, str) else _exact(raw, bool)
    elif kind is int:
        value = _number(raw, int, "a whole number") if isinstance(raw, str) else _exact(raw, int)
        if scale != 1.0:
            value = _scaled_whole(value, scale, field.variable)
    elif kind is float:
        value = _number(raw, float, "a number") if isinstance(raw, str) else float(_exact(raw, (int, float)))
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        value *= scale
    elif kind is str:
        value = _exact(raw, str)
    elif kind is Secret:
        value = raw if isinstance(raw, Secret) else Secret(_exact(raw, str))
    elif typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        value = raw.lower() if isinstance(raw, str) else raw
        if value not in choices:
            raise ValueError(f"must be one of: {', '.join(map(str, choices))}")
    else:  # pragma: no cover - a settings class declared with an unsupported type
        raise TypeError(f"unsupported setting type {kind!r}")
    if scale != 1.0 and not _within(spec, value):  # the bounds are the setting's unit, not the alias's
        raise ValueError(f"that is {value:g} {field.variable} (x{scale:g}), which {_bounds(spec)}")
    if spec.ge is not None and value < spec.ge:
        raise ValueError(f"must be at least {spec.ge:g}")
    if spec.gt is not None and value <= spec.gt:
        raise ValueError(f"must be greater than {spec.gt:g}")
    if spec.le is not None and value > spec.le:
        raise ValueError(f"must be at most {spec.le:g}")
    if spec.check is not None:
        value = spec.check(value)
    return value


def _scaled_whole(value: int, scale: float, variable: str) -> int:
    """``value`` (an alias's, in its own unit) times ``scale``, computed exactly: ``ValueError`` when
    that is not a whole number, never rounded to one the user did not write (``1`` ms is not 0 s)."""
    from decimal import Decimal  # only a scaled whole-number alias needs it: not at start-up

    factor = Decimal(repr(scale))
    scaled = factor * value
    if scaled == scaled.to_integral_value():
        return int(scaled)
    per_unit = 1 / factor
    multiple = f", or give a multiple of {per_unit:f}" if per_unit == per_unit.to_integral_value() else ""
    raise ValueError(
        f"that is {scaled.normalize():f} {variable} (x{scale:g}), which takes whole numbers only: "
        f"set {variable} instead{multiple}"
    )


def _within(spec: _Spec, value: Any) -> bool:
    """Whether ``value`` keeps the setting's bounds."""
    return not (
        (spec.ge is not None and value < spec.ge)
        or (spec.gt is not None and value <= spec.gt)
        or (spec.le is not None and value > spec.le)
    )


def _bounds(spec: _Spec) -> str:
    """The setting's bounds in words: "must be greater than 0 and at most 10"."""
    parts = [
        f"{word} {bound:g}"
        for word, bound in (("at least", spec.ge), ("greater than", spec.gt), ("at most", spec.le))
        if bound is not None
    ]
    return "must be " + " and ".join(parts)


def _number(text: str, kind: Callable[[str], Any], what: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"must be {what}") from None


def _exact(value: Any, kinds: type | tuple[type, ...]) -> Any:
    """``value`` if it is of ``kinds`` (``bool`` is not an ``int`` here); ``TypeError`` otherwise."""
    wanted = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool) and bool not in wanted:
        raise TypeError(f"must be a {' or '.join(k.__name__ for k in wanted)}, not a bool")
    if not isinstance(value, wanted):
        raise TypeError(f"must be a {' or '.join(k.__name__ for k in wanted)}")
    return value
