"""Structured output: asking for JSON that follows a schema, and reading the answer back.

``ResponseFormat.from_value`` takes what a caller has at hand: a pydantic model class, a JSON
Schema mapping, or OpenAI's ``response_format`` mapping (``{"type": "json_schema", ...}`` or
``{"type": "json_object"}``). llama-server turns the schema into a grammar, so the engine can only
emit matching JSON, unless ``max_tokens`` cuts it: ``parse`` then raises ``StructuredOutputError``
with the raw text. A pydantic model also validates the answer; a plain schema is not re-checked
here (the grammar already enforced it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._json_depth import JSONDepthError, check_depth, json_loads
from .errors import InvalidOptionsError, StructuredOutputError

__all__ = ["ResponseFormat", "to_json_value"]

_FIX = (
    'Pass a pydantic model class, a JSON Schema object ({"type": "object", ...}), or the OpenAI '
    'shape {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}.'
)


@dataclass(frozen=True)
class ResponseFormat:
    """JSON output, following ``schema`` when given (``None``: any JSON object)."""

    schema: Mapping[str, Any] | None = None
    name: str = "answer"
    model: type[Any] | None = field(default=None, compare=False, repr=False)
    """The pydantic model the schema came from: ``parse`` returns an instance of it."""

    @classmethod
    def from_value(cls, value: Any) -> ResponseFormat:
        """A response format from a ``ResponseFormat``, a pydantic model class, a JSON Schema or the
        OpenAI ``response_format`` shape; ``InvalidOptionsError`` for anything else."""
        if isinstance(value, ResponseFormat):
            return value
        if isinstance(value, type) and hasattr(value, "model_json_schema"):
            return cls(value.model_json_schema(), value.__name__, value)
        if not isinstance(value, Mapping):
            raise InvalidOptionsError(f"response_format cannot be a {type(value).__name__}.", fix=_FIX)
        kind = value.get("type")
        if kind == "json_object":
            schema = value.get("schema")
            return cls(schema if isinstance(schema, Mapping) else None)
        if kind == "json_schema":
            inner = value.get("json_schema")
            if not isinstance(inner, Mapping) or not isinstance(inner.get("schema"), Mapping):
                raise InvalidOptionsError("response_format of type json_schema needs json_schema.schema.", fix=_FIX)
            return cls(inner["schema"], str(inner.get("name") or "answer"))
        if kind == "text":
            raise InvalidOptionsError("response_format {'type': 'text'} asks for no structure.", fix="Leave it out.")
        return cls(value)  # a bare JSON Schema

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI ``response_format`` body field, as llama-server reads it."""
        if self.schema is None:
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": dict(self.schema), "strict": True}}

    def parse(self, text: str, *, finish_reason: str | None = None, backend: str | None = None) -> Any:
        """The answer decoded (an instance of ``model`` when set); ``StructuredOutputError`` keeping
        the raw text when it is not JSON, is nested deeper than ``MAX_JSON_DEPTH`` or, with a model,
        does not validate."""
        try:
            value = json_loads(text)
        except JSONDepthError as exc:
            raise self._error(f"is JSON {exc}", text, finish_reason, backend) from None
        except ValueError as exc:
            raise self._error("is not valid JSON", text, finish_reason, backend) from exc
        if self.model is None:
            return value
        from pydantic import ValidationError

        try:
            return self.model.model_validate(value)
        except ValidationError as exc:
            raise self._error(
                f"does not match {self.model.__name__}: {exc.errors()[0]['msg']}", text, None, backend
            ) from exc

    def _error(self, problem: str, text: str, finish_reason: str | None, backend: str | None) -> StructuredOutputError:
        cut = finish_reason == "length"
        return StructuredOutputError(
            f"The answer {problem}" + (" (it was cut off by max_tokens)." if cut else "."),
            output=text,
            finish_reason=finish_reason,
            fix="Raise max_tokens so the whole object fits." if cut else None,
            backend=backend,
        )


def to_json_value(value: Any) -> Any:
    """A parsed answer as plain JSON data (a pydantic instance dumped), for ``--json`` and the web API;
    ``StructuredOutputError`` when it nests deeper than ``MAX_JSON_DEPTH`` (no encoder would survive it)."""
    dump = getattr(value, "model_dump", None)
    data = dump(mode="json") if callable(dump) else value
    try:
        check_depth(data)
    except JSONDepthError as exc:
        raise StructuredOutputError(
            f"The parsed answer is {exc}, too deep to send.",
            fix="Ask for a flatter answer (a simpler schema).",
        ) from None
    return data
