"""Deterministic JSON for a JSON Schema: what the mock answers for a response format or writes as a
tool call's arguments.

The value is derived from a seed (the prompt) and each value's place in the document, so the same
request gets the same answer and different prompts get different ones. The subset understood:

* ``type``: ``object``, ``array``, ``string``, ``integer``, ``number``, ``boolean``, ``null``, or a
  list of them (the first is used); without ``type``, ``properties`` means an object and ``items``
  an array, and an empty schema gets a string;
* ``properties`` (every declared property is written), ``required`` (checked to be declared),
  ``additionalProperties`` (holds whatever it says: no undeclared property is written);
* ``enum`` (one of its values), ``const`` (that value), ``default`` (that value, as pydantic emits for
  optional fields);
* ``items``, ``minItems``, ``maxItems`` (one item, or ``minItems`` when more);
* ``minLength``, ``maxLength``; ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``;
* ``format`` on strings, for the formats pydantic emits: ``date-time``, ``date``, ``time``,
  ``duration``, ``email``, ``uri``, ``uuid``, ``ipv4``, ``ipv6``, ``hostname`` (another format is refused);
* ``anyOf`` and ``oneOf``: the first branch (for ``oneOf``, not checked to fail the others);
* ``$ref`` to ``#/$defs/...`` or ``#/definitions/...`` of the same document (pydantic's nested models);
* annotations, ignored: ``title``, ``description``, ``examples``, ``$schema``, ``$id``, ``$comment``,
  ``readOnly``, ``writeOnly``, ``deprecated``.

Any other keyword (``pattern``, ``allOf``, ``not``, ``uniqueItems`` ...) is an
``InvalidOptionsError`` naming it: the mock never answers with JSON the schema might reject. So is a
malformed schema (the kernel's ``check_schema_shape``), and bounds no value meets.

The work is bounded: at most ``MAX_VALUES`` values written (``$ref`` fan-out, ``minItems``), about
``MAX_CHARACTERS`` characters of output (``minLength``, long words) and ``MAX_SECONDS`` of walking;
past a bound, ``InvalidOptionsError`` names it before the value is built. ``sample`` is plain
blocking code: the backend runs it off the event loop.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ultra_llm.errors import InvalidOptionsError
from ultra_llm.plugin import check_schema_shape

__all__ = ["MAX_CHARACTERS", "MAX_SECONDS", "MAX_VALUES", "SUPPORTED_KEYWORDS", "sample"]

SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "enum",
        "const",
        "default",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "format",
        "anyOf",
        "oneOf",
        "$ref",
        "$defs",
        "definitions",
        "title",
        "description",
        "examples",
        "$schema",
        "$id",
        "$comment",
        "readOnly",
        "writeOnly",
        "deprecated",
    }
)
"""The keywords ``sample`` honours or may ignore (annotations)."""

_MAX_DEPTH = 32
"""Nesting beyond this is refused (a ``$ref`` cycle every branch of which is required)."""
MAX_VALUES = 100_000
"""The most values (objects, arrays, strings, numbers ...) one answer holds."""
MAX_CHARACTERS = 1_000_000
"""About the most characters of strings one answer holds."""
MAX_SECONDS = 10.0
"""The most time one answer's walk may take (a last resort: the other bounds come first)."""
_WORD = re.compile(r"[A-Za-z0-9]+")
_FIX = "Use the keywords the mock supports (see ultra_llm_mock.schema), or a real backend for this schema."
_BOUND_FIX = (
    "Ask for a smaller answer: lower minItems and minLength, fewer $ref branches that every object requires; "
    "or use a real backend for this schema."
)


def sample(schema: Mapping[str, Any], seed: str) -> Any:
    """A JSON value valid for ``schema`` (in the subset above), derived from ``seed``;
    ``InvalidOptionsError`` for a keyword outside the subset or a ``$ref`` that cannot be resolved."""
    check_schema_shape(schema, "the request")
    words = _WORD.findall(seed) or ["mock"]
    return _Sampler(schema, seed, words).value(schema, "#", 0)


class _Sampler:
    def __init__(self, root: Mapping[str, Any], seed: str, words: list[str]) -> None:
        self.root = root
        self.seed = seed
        self.words = words
        self.values = 0
        self.characters = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def number(self, where: str) -> int:
        """A number derived from the seed and the value's place."""
        digest = hashlib.sha256(f"{self.seed}\0{where}".encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "big")

    def spend(self, where: str, values: int = 1, characters: int = 0) -> None:
        """Count what the answer will hold; ``InvalidOptionsError`` naming the bound it would cross."""
        self.values += values
        self.characters += characters
        if self.values > MAX_VALUES:
            raise InvalidOptionsError(
                f"The schema asks the mock for more than {MAX_VALUES} values (at {where}), the most one answer holds.",
                fix=_BOUND_FIX,
            )
        if self.characters > MAX_CHARACTERS:
            raise InvalidOptionsError(
                f"The schema asks the mock for more than {MAX_CHARACTERS} characters (at {where}), about the most "
                "one answer holds.",
                fix=_BOUND_FIX,
            )
        if time.monotonic() > self.deadline:
            raise InvalidOptionsError(
                f"The mock spent more than {MAX_SECONDS:g} s writing JSON for the schema (at {where}), the most "
                "one answer may take.",
                fix=_BOUND_FIX,
            )

    def value(self, schema: Any, where: str, depth: int) -> Any:
        if schema is True or schema == {}:
            self.spend(where)
            return self.string({}, where)
        if not isinstance(schema, Mapping):
            raise InvalidOptionsError(f"The schema at {where} is not an object: {schema!r}.", fix=_FIX)
        if depth > _MAX_DEPTH:
            raise InvalidOptionsError(f"The schema nests deeper than {_MAX_DEPTH} levels at {where}.", fix=_FIX)
        unknown = sorted(set(schema) - SUPPORTED_KEYWORDS)
        if unknown:
            raise InvalidOptionsError(
                f"The mock does not support the JSON Schema keyword '{unknown[0]}' (at {where}).", fix=_FIX
            )
        if "$ref" in schema:
            return self.value(self.resolve(schema["$ref"], where), schema["$ref"], depth + 1)
        for key in ("anyOf", "oneOf"):
            if key in schema and not any(given in schema for given in ("const", "enum", "default")):
                branches = schema[key]
                if not branches:
                    raise InvalidOptionsError(f"The {key} at {where} is empty.", fix=_FIX)
                return self.value(branches[0], f"{where}/{key}/0", depth + 1)
        self.spend(where)  # a value written (a $ref or a branch above is a step towards one)
        if "const" in schema:
            return self.given(schema["const"], where)
        if "enum" in schema:
            choices = list(schema["enum"])
            if not choices:
                raise InvalidOptionsError(f"The enum at {where} is empty: no value can match it.", fix=_FIX)
            return self.given(choices[self.number(where) % len(choices)], where)
        if "default" in schema:
            return self.given(schema["default"], where)
        kind = schema.get("type")
        if isinstance(kind, (list, tuple)):  # a tuple once the request has frozen the schema
            kind = kind[0] if kind else None
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if kind == "object":
            return self.make_object(schema, where, depth)
        if kind == "array":
            return self.make_array(schema, where, depth)
        if kind == "string":
            return self.string(schema, where)
        if kind == "integer":
            return self.integer(schema, where)
        if kind == "number":
            return self.real(schema, where)
        if kind == "boolean":
            return self.number(where) % 2 == 0
        if kind == "null":
            return None
        raise InvalidOptionsError(f"Unknown JSON Schema type {kind!r} at {where}.", fix=_FIX)

    def given(self, data: Any, where: str) -> Any:
        """``data`` from the schema (a ``const``, ``enum`` or ``default`` value), its size spent first."""
        pending = [data]
        while pending:
            item = pending.pop()
            if isinstance(item, Mapping):
                self.spend(where, len(item), sum(len(str(key)) for key in item))
                pending.extend(item.values())
            elif isinstance(item, (list, tuple)):
                self.spend(where, len(item))
                pending.extend(item)
            elif isinstance(item, str):
                self.spend(where, 0, len(item))
        return data

    def resolve(self, ref: Any, where: str) -> Any:
        """A local ``$ref`` (``#/$defs/Name``, ``#/definitions/Name``, any ``#/...`` pointer)."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise InvalidOptionsError(
                f"Only local $ref ('#/$defs/...') is supported, got {ref!r} at {where}.", fix=_FIX
            )
        target: Any = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise InvalidOptionsError(f"The $ref {ref!r} at {where} points at nothing.", fix=_FIX)
            target = target[part]
        return target

    def make_object(self, schema: Mapping[str, Any], where: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        missing = [name for name in schema.get("required", ()) if name not in properties]
        if missing:
            raise InvalidOptionsError(
                f"The object at {where} requires '{missing[0]}' but declares no schema for it.", fix=_FIX
            )
        return {name: self.value(sub, f"{where}/properties/{name}", depth + 1) for name, sub in properties.items()}

    def make_array(self, schema: Mapping[str, Any], where: str, depth: int) -> list[Any]:
        least, most = _limits(schema, "minItems", "maxItems", where)
        count = max(least, 1) if most is None else min(max(least, 1), most)
        if self.values + count > MAX_VALUES:
            self.spend(f"{where}/minItems", count)  # refused before any item is built
        items = schema.get("items", {})
        return [self.value(items, f"{where}/items/{index}", depth + 1) for index in range(count)]

    def string(self, schema: Mapping[str, Any], where: str) -> str:
        if "format" in schema:
            return self.formatted(schema["format"], where)
        least, most = _limits(schema, "minLength", "maxLength", where)
        word = self.words[self.number(where) % len(self.words)]
        self.spend(where, 0, max(least, len(word)))  # refused before a long string is built
        text = word
        while len(text) < least:
            text += " " + text
        return text if most is None else text[: max(most, least)]

    def formatted(self, name: Any, where: str) -> str:
        """A string in the named ``format``, derived from the seed like every other value."""
        n = self.number(where)
        word = self.words[n % len(self.words)].lower()
        day = f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
        clock = f"{n % 24:02d}:{n % 60:02d}:{n // 60 % 60:02d}"
        values = {
            "date-time": f"{day}T{clock}Z",
            "date": day,
            "time": f"{clock}Z",
            "duration": f"PT{n % 59 + 1}M",
            "email": f"{word}@example.com",
            "uri": f"https://example.com/{word}",
            "uuid": str(uuid.UUID(int=n << 64 | n, version=4)),
            "ipv4": f"192.0.2.{n % 254 + 1}",
            "ipv6": f"2001:db8::{n % 65535 + 1:x}",
            "hostname": f"{word}.example.com",
        }
        if name not in values:
            raise InvalidOptionsError(f"The mock does not write strings of format {name!r} (at {where}).", fix=_FIX)
        return values[name]

    def bounds(self, schema: Mapping[str, Any]) -> tuple[float | None, float | None, bool, bool]:
        """The lower and upper bound, and whether each is exclusive (``exclusiveMinimum: true`` makes
        ``minimum`` exclusive, as in draft 4)."""
        low, high = schema.get("minimum"), schema.get("maximum")
        low_open, high_open = schema.get("exclusiveMinimum") is True, schema.get("exclusiveMaximum") is True
        below, above = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if not isinstance(below, bool) and below is not None and (low is None or below >= low):
            low, low_open = below, True
        if not isinstance(above, bool) and above is not None and (high is None or above <= high):
            high, high_open = above, True
        return low, high, low_open and low is not None, high_open and high is not None

    def integer(self, schema: Mapping[str, Any], where: str) -> int:
        low, high, low_open, high_open = self.bounds(schema)
        first = None if low is None else math.floor(low) + 1 if low_open else math.ceil(low)
        last = None if high is None else math.ceil(high) - 1 if high_open else math.floor(high)
        if first is None:
            first = 0 if last is None or last >= 100 else last - 100
        if last is None:
            last = first + 100
        if first > last:
            raise InvalidOptionsError(f"No integer lies within the bounds of the schema at {where}.", fix=_FIX)
        return first + self.number(where) % (last - first + 1)

    def real(self, schema: Mapping[str, Any], where: str) -> float:
        given_low, given_high, low_open, high_open = self.bounds(schema)
        low = None if given_low is None else _as_float(given_low, where)
        high = None if given_high is None else _as_float(given_high, where)
        if low is None:
            low = 0.0 if high is None or high >= 100 else high - 100
        if high is None:
            high = low + 100
        if high < low or (high == low and (low_open or high_open)):
            raise InvalidOptionsError(f"No number lies within the bounds of the schema at {where}.", fix=_FIX)
        span = min(high - low, 1e9)  # an infinite width (-1e308 to 1e308) too
        value = low + self.number(where) % int(span) + 0.5 if span >= 1 else low
        if low < value < high:  # strictly inside, and not lost to rounding near huge bounds
            return value
        middle = low / 2 + high / 2
        if (low < middle or not low_open) and (middle < high or not high_open):
            return middle
        raise InvalidOptionsError(f"No number the mock can write lies within the bounds at {where}.", fix=_FIX)


def _limits(schema: Mapping[str, Any], least_key: str, most_key: str, where: str) -> tuple[int, int | None]:
    """``minItems``/``maxItems`` (or ``minLength``/``maxLength``) as whole numbers; refused when no
    length lies between them."""
    least, most = int(schema.get(least_key, 0)), schema.get(most_key)
    if most is not None and int(most) < least:
        raise InvalidOptionsError(
            f"No length lies within the bounds at {where}: {least_key} {least} is above {most_key} {int(most)}.",
            fix=_FIX,
        )
    return least, None if most is None else int(most)


def _as_float(bound: float, where: str) -> float:
    """A numeric bound as a float; refused when it is too large for one (an int like 10**400)."""
    try:
        return float(bound)
    except OverflowError:
        raise InvalidOptionsError(f"A bound at {where} is too large for a number the mock writes.", fix=_FIX) from None
