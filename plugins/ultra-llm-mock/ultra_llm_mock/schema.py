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
``InvalidOptionsError`` naming it: the mock never answers with JSON the schema might reject.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

from ultra_llm.errors import InvalidOptionsError

__all__ = ["SUPPORTED_KEYWORDS", "sample"]

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
_WORD = re.compile(r"[A-Za-z0-9]+")
_FIX = "Use the keywords the mock supports (see ultra_llm_mock.schema), or a real backend for this schema."


def sample(schema: Mapping[str, Any], seed: str) -> Any:
    """A JSON value valid for ``schema`` (in the subset above), derived from ``seed``;
    ``InvalidOptionsError`` for a keyword outside the subset or a ``$ref`` that cannot be resolved."""
    words = _WORD.findall(seed) or ["mock"]
    return _Sampler(schema, seed, words).value(schema, "#", 0)


class _Sampler:
    def __init__(self, root: Mapping[str, Any], seed: str, words: list[str]) -> None:
        self.root = root
        self.seed = seed
        self.words = words

    def number(self, where: str) -> int:
        """A number derived from the seed and the value's place."""
        digest = hashlib.sha256(f"{self.seed}\0{where}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def value(self, schema: Any, where: str, depth: int) -> Any:
        if schema is True or schema == {}:
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
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            choices = list(schema["enum"])
            if not choices:
                raise InvalidOptionsError(f"The enum at {where} is empty: no value can match it.", fix=_FIX)
            return choices[self.number(where) % len(choices)]
        if "default" in schema:
            return schema["default"]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = schema[key]
                if not branches:
                    raise InvalidOptionsError(f"The {key} at {where} is empty.", fix=_FIX)
                return self.value(branches[0], f"{where}/{key}/0", depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
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
        least, most = int(schema.get("minItems", 0)), schema.get("maxItems")
        count = max(least, 1) if most is None else min(max(least, 1), int(most))
        items = schema.get("items", {})
        return [self.value(items, f"{where}/items/{index}", depth + 1) for index in range(count)]

    def string(self, schema: Mapping[str, Any], where: str) -> str:
        if "format" in schema:
            return self.formatted(schema["format"], where)
        least, most = int(schema.get("minLength", 0)), schema.get("maxLength")
        text = self.words[self.number(where) % len(self.words)]
        while len(text) < least:
            text += " " + text
        return text if most is None else text[: max(int(most), least)]

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
        """The lower and upper bound, and whether each is exclusive."""
        low, high = schema.get("minimum"), schema.get("maximum")
        low_open = high_open = False
        if "exclusiveMinimum" in schema and (low is None or schema["exclusiveMinimum"] >= low):
            low, low_open = schema["exclusiveMinimum"], True
        if "exclusiveMaximum" in schema and (high is None or schema["exclusiveMaximum"] <= high):
            high, high_open = schema["exclusiveMaximum"], True
        return low, high, low_open, high_open

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
        low, high, low_open, high_open = self.bounds(schema)
        if low is None:
            low = 0.0 if high is None or high >= 100 else float(high) - 100
        if high is None:
            high = float(low) + 100
        if high < low or (high == low and (low_open or high_open)):
            raise InvalidOptionsError(f"No number lies within the bounds of the schema at {where}.", fix=_FIX)
        span = int(high - low)
        if span >= 1:
            return float(low) + self.number(where) % span + 0.5  # strictly inside: low < v < high
        return (float(low) + float(high)) / 2
