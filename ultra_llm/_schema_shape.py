"""The shape of a JSON Schema a request carries (a response format, a tool's parameters), checked once
in the kernel before any backend reads it.

``check_schema_shape`` raises ``InvalidOptionsError`` (the caller's error: 422, exit 2) naming the
first keyword whose value is not what JSON Schema says it holds (``enum`` a list, ``properties`` an
object of schemas, ``minLength`` a whole number 0 or more ...), or the first number that is not
finite (NaN and Infinity are not JSON). Keywords it does not know are left to the backend; what a
keyword means (a ``$ref`` that resolves, bounds that leave a value) is the backend's to judge. It
reads the schema iteratively, so any nesting is checked without recursion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from ._text import preview
from .errors import InvalidOptionsError

__all__ = ["check_schema_shape"]

_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMAS = frozenset(
    {
        "additionalProperties",
        "additionalItems",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def _is_number(value: Any) -> bool:
    """A finite JSON number (an ``int``, whatever its size, or a finite ``float``; not ``true``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _is_count(value: Any) -> bool:
    """A JSON Schema non-negative integer: ``3`` or ``3.0``, not ``3.5``, ``-1``, ``true`` or Infinity."""
    if not _is_number(value):
        return False
    return value >= 0 and (isinstance(value, int) or float(value).is_integer())


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _is_type(value: Any) -> bool:
    names = value if _is_list(value) else [value]
    return bool(names) and all(isinstance(name, str) for name in names)


_VALUES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "type": (_is_type, "a type name or a non-empty list of them"),
    "enum": (_is_list, "a list"),
    "required": (lambda v: _is_list(v) and all(isinstance(n, str) for n in v), "a list of property names"),
    "multipleOf": (lambda v: _is_number(v) and v > 0, "a number above 0"),
    **dict.fromkeys(("minimum", "maximum"), (_is_number, "a finite number")),
    **dict.fromkeys(  # a flag in draft 4
        ("exclusiveMinimum", "exclusiveMaximum"), (lambda v: isinstance(v, bool) or _is_number(v), "a finite number")
    ),
    **dict.fromkeys(
        (
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
            "minContains",
            "maxContains",
        ),
        (_is_count, "a whole number, 0 or more"),
    ),
    **dict.fromkeys(
        ("$ref", "$id", "$schema", "$anchor", "$comment", "pattern", "format", "title", "description"),
        (lambda v: isinstance(v, str), "a string"),
    ),
    **dict.fromkeys(
        ("uniqueItems", "readOnly", "writeOnly", "deprecated"), (lambda v: isinstance(v, bool), "true or false")
    ),
}
"""The other keywords checked: what each holds, and how the error says it."""

_FIX = (
    "Correct the schema: each keyword holds what JSON Schema says (properties and $defs an object of "
    "schemas; items, additionalProperties and not a schema; anyOf, oneOf and allOf a list of schemas; enum "
    "and required a list; type a name or a list of names; minLength, minItems ... a whole number 0 or "
    "more; minimum, maximum ... a finite number)."
)


Place = tuple[Any, ...]
"""Where a value is: ``()`` for the root, else ``(parent's place, key or index)``, a chain shared with
the parent (so a deep schema costs no more than its size); ``_pointer`` spells it out on error."""


def check_schema_shape(schema: Any, what: str) -> None:
    """Raise ``InvalidOptionsError`` naming ``what`` (e.g. ``"response_format"``) and the place when
    ``schema`` is not a well-formed JSON Schema (see the module docstring); return when it is."""
    pending: list[tuple[Any, Place, bool]] = [(schema, (), True)]
    while pending:
        value, place, is_schema = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            _refuse(what, place, "a finite number (NaN and Infinity are not JSON)", value)
        if is_schema:
            if not isinstance(value, (Mapping, bool)):
                _refuse(what, place, "a schema (a JSON object, or true or false)", value)
            if isinstance(value, Mapping):
                for keyword, held in value.items():
                    pending.extend(_check_keyword(what, (place, keyword), str(keyword), held))
        elif isinstance(value, Mapping):
            pending.extend((item, (place, key), False) for key, item in value.items())
        elif isinstance(value, (list, tuple)):
            pending.extend((item, (place, index), False) for index, item in enumerate(value))


def _check_keyword(what: str, place: Place, keyword: str, value: Any) -> list[tuple[Any, Place, bool]]:
    """Check one keyword's own value; return what is left to read under it (schemas, or data)."""
    if keyword in _SCHEMA_MAPS:
        if not isinstance(value, Mapping):
            _refuse(what, place, "an object whose values are schemas", value)
        return [(item, (place, name), True) for name, item in value.items()]
    if keyword in _SCHEMAS:
        return [(value, place, True)]
    if keyword == "items":  # a schema, or a list of them (the tuple form before draft 2020-12)
        if isinstance(value, (list, tuple)):
            return [(item, (place, index), True) for index, item in enumerate(value)]
        return [(value, place, True)]
    if keyword in _SCHEMA_LISTS:
        if not isinstance(value, (list, tuple)):
            _refuse(what, place, "a list of schemas", value)
        return [(item, (place, index), True) for index, item in enumerate(value)]
    if keyword in _VALUES:
        holds, expected = _VALUES[keyword]
        if not holds(value):
            _refuse(what, place, expected, value)
    return [(value, place, False)]  # data (enum, const, default, examples ...): only its numbers are checked


def _pointer(place: Place) -> str:
    """``place`` as a JSON pointer (``#/properties/a``), a lone surrogate in a key escaped; past 12
    levels, the first 4 and the last 8 with ``...`` between."""
    parts: list[str] = []
    while place:
        place, part = place
        parts.append(str(part)[:60])
    parts.reverse()
    if len(parts) > 12:
        parts = [*parts[:4], "...", *parts[-8:]]
    text = "/".join(["#", *parts])
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _refuse(what: str, place: Place, expected: str, value: Any) -> NoReturn:
    shown = f"a JSON {'object' if isinstance(value, Mapping) else 'list'}"
    if not isinstance(value, (Mapping, list, tuple)):
        shown = preview(value)
    raise InvalidOptionsError(
        f"The schema of {what} is malformed: {_pointer(place)} must be {expected}, got {shown}.", fix=_FIX
    )
