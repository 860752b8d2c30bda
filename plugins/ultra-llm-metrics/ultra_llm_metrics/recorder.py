"""Measuring generations: the middleware, the counters, the log records and the spans.

Imported when an adapter is made with metrics on. Definitions, for one call:

* ``total_ms``: from the call's start to its last chunk (or its result, or its error);
* ``ttft_ms`` (streams only): from the start to the first chunk carrying text (answer or reasoning);
* ``tokens``: the usage's ``completion_tokens`` when the backend reports it, else (streams) the
  number of chunks carrying text; ``None`` for a whole answer without usage;
* ``tokens_per_second``: for a stream, ``(tokens - 1)`` over the time from the first to the last
  text chunk (the decode rate, the first token's wait being ``ttft_ms``); for a whole answer,
  ``tokens`` over ``total_ms``; ``None`` when undefined (fewer than two tokens, no time);
* ``status``: ``ok``, ``error`` (the call raised; ``error_type`` names the exception) or
  ``cancelled`` (the caller was cancelled or stopped reading a stream early).

A failure inside the recorder (a logging handler, a span exporter) never fails the generation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ultra_llm.plugin import (
    Chunk,
    EmbeddingRequest,
    EmbeddingResult,
    EmbedNext,
    Fallback,
    GenerateNext,
    GenerationRequest,
    Middleware,
    Result,
    StreamNext,
    Usage,
    closing_stream,
)

__all__ = [
    "Call",
    "MetricsMiddleware",
    "reset",
    "snapshot",
    "use_tracer_provider",
]

logger = logging.getLogger("ultra_llm.metrics")
TRACER_NAME = "ultra_llm.metrics"


# -- counters ------------------------------------------------------------------------------------


@dataclass
class Series:
    """Running totals for one (backend, model, operation)."""

    requests: int = 0
    ok: int = 0
    errors: int = 0
    cancelled: int = 0
    errors_by_type: dict[str, int] = field(default_factory=dict)
    total_seconds: float = 0.0
    max_total_seconds: float = 0.0
    ttft_seconds: float = 0.0
    ttft_count: int = 0
    tokens: int = 0
    rate_tokens: int = 0
    rate_seconds: float = 0.0
    fallbacks: dict[str, int] = field(default_factory=dict)
    """Calls this model answered in place of another (a fallback), by the reason the other did not."""


_lock = threading.Lock()
_series: dict[tuple[str, str, str], Series] = {}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def snapshot() -> dict[str, Any]:
    """The counters, JSON-ready: ``{"enabled": bool, "series": [...]}``, one series per backend, model, operation.

    Each series has ``backend``, ``model``, ``operation`` (``generate``, ``stream``, ``embed``),
    ``requests``, ``ok``, ``errors``, ``cancelled``, ``errors_by_type``, ``mean_total_ms``,
    ``max_total_ms``, ``mean_ttft_ms`` (streams), ``tokens``, ``tokens_per_second`` (the summed
    tokens over the summed generation times of the calls that had a rate) and ``fallbacks`` (the calls
    this model took over from another, by reason). Means over no calls are ``None``.
    """
    from .settings import MetricsSettings

    with _lock:
        items = sorted(_series.items())
        rows = []
        for (backend, model, operation), s in items:
            rows.append(
                {
                    "backend": backend,
                    "model": model,
                    "operation": operation,
                    "requests": s.requests,
                    "ok": s.ok,
                    "errors": s.errors,
                    "cancelled": s.cancelled,
                    "errors_by_type": dict(s.errors_by_type),
                    "mean_total_ms": _ms(s.total_seconds / s.requests) if s.requests else None,
                    "max_total_ms": _ms(s.max_total_seconds),
                    "mean_ttft_ms": _ms(s.ttft_seconds / s.ttft_count) if s.ttft_count else None,
                    "tokens": s.tokens,
                    "tokens_per_second": round(s.rate_tokens / s.rate_seconds, 3) if s.rate_seconds > 0 else None,
                    "fallbacks": dict(s.fallbacks),
                }
            )
    return {"enabled": MetricsSettings.load().enabled, "series": rows}


def reset() -> None:
    """Zero every counter."""
    with _lock:
        _series.clear()


# -- OpenTelemetry (optional) --------------------------------------------------------------------

_provider: Any | None = None
_otel_missing = False


def use_tracer_provider(provider: Any | None) -> None:
    """Use ``provider`` for spans (``None``: OpenTelemetry's global provider)."""
    global _provider
    _provider = provider


def _tracer(otel: bool) -> Any | None:
    """A tracer, or ``None`` when spans are off (``otel`` false) or ``opentelemetry-api`` is not importable."""
    global _otel_missing
    if _otel_missing or not otel:
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        _otel_missing = True
        return None
    if _provider is not None:
        return _provider.get_tracer(TRACER_NAME)
    return trace.get_tracer(TRACER_NAME)


# -- one call ------------------------------------------------------------------------------------


class Call:
    """The measurement of one call: started at construction, finished once by ``finish``."""

    def __init__(
        self,
        operation: str,
        backend: str,
        model: str,
        attributes: dict[str, Any],
        otel: bool,
        fallback: Fallback | None = None,
    ) -> None:
        self.operation = operation
        self.backend = backend
        self.model = model
        self.fallback = fallback
        """On a fallback model's call: the model asked for, and why it did not answer."""
        self.start = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.text_chunks = 0
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.response_model: str | None = None
        self._done = False
        self.span: Any | None = None
        try:
            tracer = _tracer(otel)
            if tracer is not None:
                from opentelemetry.trace import SpanKind

                name = f"{'embeddings' if operation == 'embed' else 'chat'} {model}"
                self.span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        except Exception:  # observability must never fail a generation
            logger.debug("could not start a span", exc_info=True)

    def chunk(self, chunk: Chunk) -> None:
        """Note one streamed chunk."""
        if chunk.text:
            now = time.perf_counter()
            if self.first is None:
                self.first = now
            self.last = now
            self.text_chunks += 1
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason

    def result(self, result: Result) -> None:
        """Note a whole answer."""
        self.usage = result.usage
        self.finish_reason = result.finish_reason
        self.response_model = result.model

    def figures(self, end: float) -> dict[str, Any]:
        """The call's figures (see the module's definitions)."""
        total = end - self.start
        streamed = self.operation == "stream"
        tokens: int | None = None
        if self.usage is not None and self.usage.completion_tokens is not None:
            tokens = self.usage.completion_tokens
        elif streamed:
            tokens = self.text_chunks
        rate_tokens: int | None = None
        rate_seconds: float | None = None
        if streamed and tokens is not None and tokens >= 2 and self.first is not None and self.last is not None:
            if self.last > self.first:
                rate_tokens, rate_seconds = tokens - 1, self.last - self.first
        elif not streamed and tokens and total > 0 and self.operation == "generate":
            rate_tokens, rate_seconds = tokens, total
        return {
            "operation": self.operation,
            "backend": self.backend,
            "model": self.model,
            "total_seconds": total,
            "ttft_seconds": (self.first - self.start) if streamed and self.first is not None else None,
            "tokens": tokens,
            "rate_tokens": rate_tokens,
            "rate_seconds": rate_seconds,
            "tokens_per_second": (rate_tokens / rate_seconds) if rate_tokens and rate_seconds else None,
        }

    def finish(self, status: str, error: BaseException | None = None) -> None:
        """Count, log and end the span, once; never raises."""
        if self._done:
            return
        self._done = True
        try:
            self._finish(status, error)
        except Exception:  # observability must never fail a generation
            logger.debug("could not record a measurement", exc_info=True)

    def _finish(self, status: str, error: BaseException | None) -> None:
        data = self.figures(time.perf_counter())
        error_type = type(error).__name__ if error is not None and status == "error" else None
        key = (self.backend, self.model, self.operation)
        with _lock:
            series = _series.setdefault(key, Series())
            series.requests += 1
            if status == "ok":
                series.ok += 1
            elif status == "error":
                series.errors += 1
                assert error_type is not None
                series.errors_by_type[error_type] = series.errors_by_type.get(error_type, 0) + 1
            else:
                series.cancelled += 1
            series.total_seconds += data["total_seconds"]
            series.max_total_seconds = max(series.max_total_seconds, data["total_seconds"])
            if data["ttft_seconds"] is not None:
                series.ttft_seconds += data["ttft_seconds"]
                series.ttft_count += 1
            series.tokens += data["tokens"] or 0
            if data["rate_tokens"] and data["rate_seconds"]:
                series.rate_tokens += data["rate_tokens"]
                series.rate_seconds += data["rate_seconds"]
            if self.fallback is not None and status == "ok":
                reason = self.fallback.reason
                series.fallbacks[reason] = series.fallbacks.get(reason, 0) + 1
        record = {
            "operation": self.operation,
            "backend": self.backend,
            "model": self.model,
            "status": status,
            "error_type": error_type,
            "total_ms": _ms(data["total_seconds"]),
            "ttft_ms": _ms(data["ttft_seconds"]),
            "tokens": data["tokens"],
            "tokens_per_second": None if data["tokens_per_second"] is None else round(data["tokens_per_second"], 3),
            "finish_reason": self.finish_reason,
            "fallback_from": None if self.fallback is None else self.fallback.requested,
            "fallback_reason": None if self.fallback is None else self.fallback.reason,
        }
        if logger.isEnabledFor(logging.INFO):
            shown = " ".join(f"{k}={v}" for k, v in record.items() if v is not None and k not in ("operation",))
            logger.info("%s %s", self.operation, shown, extra={"ultra_llm_metrics": record})
        self._end_span(status, error, record)

    def _end_span(self, status: str, error: BaseException | None, record: dict[str, Any]) -> None:
        span = self.span
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        usage = self.usage
        if usage is not None and usage.prompt_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        if record["tokens"] is not None and self.operation != "embed":
            span.set_attribute("gen_ai.usage.output_tokens", record["tokens"])
        if self.finish_reason is not None:
            span.set_attribute("gen_ai.response.finish_reasons", [self.finish_reason])
        if self.response_model is not None:
            span.set_attribute("gen_ai.response.model", self.response_model)
        for name in ("total_ms", "ttft_ms", "tokens_per_second", "fallback_from", "fallback_reason"):
            if record[name] is not None:
                span.set_attribute(f"ultra_llm.{name}", record[name])
        span.set_attribute("ultra_llm._status", status)
        if error is not None and status == "error":
            span.set_attribute("error.type", type(error).__name__)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
        span.end()


def _attributes(operation: str, backend: str, model: str, options: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "embeddings" if operation == "embed" else "chat",
        "gen_ai.provider.name": "ultra_llm",
        "gen_ai.request.model": model,
        "ultra_llm._backend": backend,
        "ultra_llm.operation": operation,
    }
    for option in ("temperature", "top_p", "max_tokens", "seed"):
        value = options.get(option)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[f"gen_ai.request.{option}"] = value
    return attributes


def _start(operation: str, request: GenerationRequest, otel: bool) -> Call:
    return Call(
        operation,
        request.backend,
        request.model,
        _attributes(operation, request.backend, request.model, dict(request.options_dict)),
        otel,
        request.fallback,
    )


def _status(exc: BaseException) -> str:
    return "error" if isinstance(exc, Exception) else "cancelled"


class MetricsMiddleware(Middleware):
    """Measures every call passing through: whole answers, streams (chunk by chunk, unchanged)
    and embeddings; a call that raises or is cancelled is counted as such and re-raised. ``otel``
    false: logging only, no spans."""

    def __init__(self, *, otel: bool = True) -> None:
        self.otel = otel

    async def generate(self, request: GenerationRequest, call_next: GenerateNext) -> Result:
        """``call_next``, measured."""
        measurement = _start("generate", request, self.otel)
        try:
            result = await call_next(request)
        except BaseException as exc:
            measurement.finish(_status(exc), exc)
            raise
        if isinstance(result, Result):
            measurement.result(result)
        measurement.finish("ok")
        return result

    async def stream(self, request: GenerationRequest, call_next: StreamNext) -> AsyncIterator[Chunk]:
        """``call_next``'s chunks, each noted as it passes through."""
        measurement = _start("stream", request, self.otel)
        try:
            async with closing_stream(call_next(request)) as chunks:
                async for chunk in chunks:
                    if isinstance(chunk, Chunk):
                        measurement.chunk(chunk)
                    yield chunk
        except BaseException as exc:  # GeneratorExit: the caller stopped reading early
            measurement.finish(_status(exc), exc)
            raise
        measurement.finish("ok")

    async def embed(self, request: EmbeddingRequest, call_next: EmbedNext) -> EmbeddingResult:
        """``call_next``, measured (total time, counts and errors; no token rate)."""
        measurement = Call(
            "embed",
            request.backend,
            request.model,
            {**_attributes("embed", request.backend, request.model, {}), "ultra_llm.inputs": len(request.inputs)},
            self.otel,
        )
        try:
            result = await call_next(request)
        except BaseException as exc:
            measurement.finish(_status(exc), exc)
            raise
        if isinstance(result, EmbeddingResult):
            measurement.usage = result.usage
            measurement.response_model = result.model
        measurement.finish("ok")
        return result
