"""The metrics plugin: opt-in, timings, token rates, counts and errors per backend and model, logs, spans."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import ultra_llm_metrics
from ultra_llm_metrics import recorder

from ultra_llm import create_adapter_sync
from ultra_llm._adapter import Adapter
from ultra_llm._host import PluginHost
from ultra_llm.errors import GenerationError


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    ultra_llm_metrics.reset()
    ultra_llm_metrics.use_tracer_provider(None)
    yield
    ultra_llm_metrics.reset()
    ultra_llm_metrics.use_tracer_provider(None)
    recorder._otel_missing = False


@pytest.fixture
def adapter(ultra_llm_host: PluginHost) -> Iterator[Callable[..., Adapter]]:
    made: list[Adapter] = []

    def make(model: str = "mock/echo") -> Adapter:
        made.append(create_adapter_sync(model, backend="mock", host=ultra_llm_host))
        return made[-1]

    yield make
    for item in made:
        item.close()


def series(operation: str, model: str = "mock/echo") -> dict[str, Any]:
    found = [s for s in ultra_llm_metrics.snapshot()["series"] if s["operation"] == operation and s["model"] == model]
    assert len(found) == 1, ultra_llm_metrics.snapshot()
    row: dict[str, Any] = found[0]
    return row


def metric_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.ultra_llm_metrics for r in caplog.records if r.name == "ultra_llm.metrics"]  # type: ignore[attr-defined]


def test_installed_and_outermost_but_off_by_default(
    ultra_llm_host: PluginHost, adapter: Callable[..., Adapter], caplog: pytest.LogCaptureFixture
) -> None:
    record = ultra_llm_host.records["metrics"]
    assert record.status == "loaded" and record.distribution == "ultra-llm-metrics"
    assert record.hooks == ["ultra_llm_middleware", "ultra_llm_register_settings"]
    off = adapter()
    assert "metrics" not in [layer.plugin for layer in off.adapter.chain.layers], "off: no layer at all"
    with caplog.at_level(logging.INFO, logger="ultra_llm.metrics"):
        off.generate("x")
    assert ultra_llm_metrics.snapshot() == {"enabled": False, "series": []}
    assert metric_records(caplog) == []


def test_whole_generations_are_timed_and_counted(
    adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.01")
    with caplog.at_level(logging.INFO, logger="ultra_llm.metrics"):
        adapter().generate("one two three four five")
        adapter().generate("six seven")
    row = series("generate")
    assert (row["requests"], row["ok"], row["errors"], row["cancelled"]) == (2, 2, 0, 0)
    assert row["tokens"] == 7, "completion tokens from the mock's usage"
    assert row["mean_ttft_ms"] is None, "no first-token time for a whole answer"
    assert 40 <= row["max_total_ms"] < 1000, "five chunks four 10 ms gaps apart"
    assert 5 < row["tokens_per_second"] < 7 / 0.05
    records = metric_records(caplog)
    assert [r["status"] for r in records] == ["ok", "ok"] and records[0]["tokens"] == 5
    assert records[0]["total_ms"] >= 40 and records[0]["finish_reason"] == "stop"
    message = next(r.getMessage() for r in caplog.records if r.name == "ultra_llm.metrics")
    assert message.startswith("generate backend=mock model=mock/echo status=ok total_ms=")


def test_streams_report_time_to_first_token_and_decode_rate(
    adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    monkeypatch.setenv("ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY", "0.1")
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.01")
    chunks = list(adapter().stream(" ".join(f"w{i}" for i in range(11))))
    assert "".join(c.text for c in chunks) == " ".join(f"w{i}" for i in range(11)), "chunks pass through unchanged"
    row = series("stream")
    assert row["requests"] == row["ok"] == 1 and row["tokens"] == 11
    assert 100 <= row["mean_ttft_ms"] < 1000
    assert row["mean_total_ms"] >= row["mean_ttft_ms"] + 100, "ten 10 ms gaps after the first token"
    assert 20 < row["tokens_per_second"] <= 101, "ten tokens after the first, 10 ms apart: at most 100 per second"


def test_errors_and_cancellations_are_counted_per_backend_and_model(
    adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    good = adapter("mock/echo")
    for chunk in good.stream("a b c"):
        assert chunk.text == "a "
        break
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "fail")
    failing = adapter("mock/fixed")
    with caplog.at_level(logging.INFO, logger="ultra_llm.metrics"):
        for _ in range(2):
            with pytest.raises(GenerationError):
                failing.generate("x")
        with pytest.raises(GenerationError):
            list(failing.stream("x"))
    assert series("stream")["cancelled"] == 1 and series("stream")["errors"] == 0
    failed = series("generate", model="mock/fixed")
    assert (failed["requests"], failed["ok"], failed["errors"]) == (2, 0, 2)
    assert failed["errors_by_type"] == {"GenerationError": 2}
    assert series("stream", model="mock/fixed")["errors_by_type"] == {"GenerationError": 1}
    # the first stream's "cancelled" record may come late (when its generator is finalized): errors only
    errors = [r for r in metric_records(caplog) if r["status"] == "error"]
    assert len(errors) == 3 and {r["error_type"] for r in errors} == {"GenerationError"}


def test_embeddings_and_batches_are_counted(adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    made = adapter()
    made.embed(["a", "b"])
    items = made.generate_many([f"p{i}" for i in range(20)], concurrency=5)
    assert all(item.ok for item in items)
    assert series("embed")["requests"] == 1 and series("embed")["tokens_per_second"] is None
    assert series("generate")["requests"] == 20 and series("generate")["ok"] == 20


def test_cache_hits_are_seen_because_metrics_wrap_outermost(
    adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ultra_llm_cache import runtime

    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.02")
    runtime.reset()
    try:
        made = adapter()
        for _ in range(3):
            made.generate("one two three", temperature=0)
        assert runtime.stats()["process"]["hits"] == 2
    finally:
        runtime.reset()
    row = series("generate")
    assert row["requests"] == 3 and row["max_total_ms"] >= 40
    assert row["mean_total_ms"] < row["max_total_ms"] / 2, "the two hits were timed too, and fast"


def test_a_failing_log_filter_never_fails_a_generation(
    adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Exploding(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            raise RuntimeError("broken filter")

    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    logger = logging.getLogger("ultra_llm.metrics")
    exploding = Exploding()
    logger.addFilter(exploding)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        assert adapter().generate("still fine") == "still fine"
    finally:
        logger.removeFilter(exploding)
        logger.setLevel(old_level)
    assert series("generate")["ok"] == 1


def test_spans_with_the_sdk_in_memory_exporter(
    adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ultra_llm_metrics.use_tracer_provider(provider)
    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    made = adapter()
    made.generate("one two", temperature=0.5, max_tokens=8)
    list(made.stream("three four five"))
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "fail")
    with pytest.raises(GenerationError):
        adapter().generate("x")

    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["chat mock/echo"] * 3
    whole, _, failed = spans
    attributes: list[dict[str, Any]] = [dict(span.attributes or {}) for span in spans]
    w, st, f = attributes
    assert whole.kind == SpanKind.CLIENT
    assert w["gen_ai.operation.name"] == "chat"
    assert w["gen_ai.request.model"] == "mock/echo"
    assert w["gen_ai.request.temperature"] == 0.5
    assert w["gen_ai.request.max_tokens"] == 8
    assert w["gen_ai.usage.output_tokens"] == 2
    assert w["gen_ai.usage.input_tokens"] == 2
    assert list(w["gen_ai.response.finish_reasons"]) == ["stop"]
    assert w["ultra_llm._backend"] == "mock" and w["ultra_llm._status"] == "ok"
    assert whole.status.status_code == StatusCode.UNSET
    assert st["ultra_llm.operation"] == "stream"
    assert st["gen_ai.usage.output_tokens"] == 3 and "ultra_llm.ttft_ms" in st
    assert failed.status.status_code == StatusCode.ERROR
    assert f["error.type"] == "GenerationError"
    assert [event.name for event in failed.events] == ["exception"]
    assert all(
        span.end_time is not None and span.start_time is not None and span.end_time >= span.start_time for span in spans
    )


def test_spans_with_the_api_alone_are_no_ops(adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("opentelemetry.trace")
    from opentelemetry import trace

    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    ultra_llm_metrics.use_tracer_provider(trace.NoOpTracerProvider())
    assert adapter().generate("fine") == "fine"
    assert series("generate")["ok"] == 1


class RecordingProvider:
    """A stand-in TracerProvider recording the spans started (the API's no-op tracer records nothing)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []

    def get_tracer(self, name: str) -> RecordingProvider:
        assert name == "ultra_llm.metrics"
        return self

    def start_span(self, name: str, kind: Any = None, attributes: dict[str, Any] | None = None) -> Any:
        from opentelemetry.trace import NonRecordingSpan, SpanContext

        self.started.append((name, dict(attributes or {})))
        return NonRecordingSpan(SpanContext(0, 0, False))


def test_spans_can_be_turned_off_and_missing_otel_is_fine(
    adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("opentelemetry.trace")
    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    provider = RecordingProvider()
    ultra_llm_metrics.use_tracer_provider(provider)
    made = adapter()
    made.generate("counted")
    assert [name for name, _ in provider.started] == ["chat mock/echo"]
    monkeypatch.setenv("ULTRA_LLM_METRICS_OTEL", "0")
    made.generate("still traced: settings are read when an adapter is made")
    assert len(provider.started) == 2
    adapter().generate("not traced")
    assert len(provider.started) == 2
    monkeypatch.delenv("ULTRA_LLM_METRICS_OTEL")
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if opentelemetry-api were not installed
    recorder._otel_missing = False
    adapter().generate("no otel")
    assert len(provider.started) == 2 and recorder._otel_missing
    assert series("generate")["ok"] == 4


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, json\nfrom ultra_llm._host import PluginHost\n"
        "h = PluginHost(); h.backends(); assert h.records['metrics'].status == 'loaded'\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {**os.environ, "ULTRA_LLM_METRICS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60, env=env)
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    heavy = {"opentelemetry", "opentelemetry.trace", "asyncio", "ultra_llm_metrics.recorder", "pydantic"}
    assert not loaded & heavy, loaded & heavy
    assert "ultra_llm_metrics.plugin" in loaded


@pytest.mark.parametrize(
    ("value", "on"), [("1", True), ("true", True), ("Yes", True), ("on", True), ("0", False), ("", False)]
)
def test_the_documented_settings_decide_the_middleware(
    adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch, value: str, on: bool
) -> None:
    from ultra_llm_metrics.settings import MetricsSettings

    monkeypatch.setenv("ULTRA_LLM_METRICS", value)
    assert MetricsSettings.load().enabled is on
    assert ("metrics" in [layer.plugin for layer in adapter().adapter.chain.layers]) is on
    assert ultra_llm_metrics.snapshot()["enabled"] is on


METRICS_LINE = re.compile(
    r"metrics: (generate|stream) backend=mock model=mock/echo status=ok total_ms=[0-9.]+ .*finish_reason=stop\n"
)


@pytest.mark.parametrize(
    ("flags", "stdout_ok"),
    [
        ((), lambda out: out == "a b\n"),
        (("--stream",), lambda out: out == "a b\n"),
        (("--json",), lambda out: json.loads(out)["text"] == "a b"),
    ],
)
def test_the_cli_prints_the_calls_metrics_line_on_stderr_without_debug(
    flags: tuple[str, ...], stdout_ok: Callable[[str], bool]
) -> None:
    """0.3 showed nothing without --debug: the line was INFO and the CLI printed only warnings. Now it
    is one line on stderr; stdout (text, stream or --json) stays exactly the answer."""
    script = os.path.join(os.path.dirname(sys.executable), "ultra-llm")
    env = {**os.environ, "ULTRA_LLM_METRICS": "1", "ULTRA_LLM_METRICS_OTEL": "0"}
    done = subprocess.run(
        [script, "generate", *flags, "-m", "mock/echo", "a b"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0 and stdout_ok(done.stdout), done
    assert METRICS_LINE.fullmatch(done.stderr), done.stderr
    off = subprocess.run(
        [script, "generate", *flags, "-m", "mock/echo", "a b"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ULTRA_LLM_METRICS": "0"},
    )
    assert off.returncode == 0 and stdout_ok(off.stdout) and off.stderr == ""


def test_a_fallback_is_counted_for_the_model_that_answered_and_logged_with_why(
    adapter: Callable[..., Adapter], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "unknown-model")  # the mock knows its three models only
    with caplog.at_level(logging.INFO, logger="ultra_llm.metrics"):
        result = adapter().complete("x", model="ghost", fallback_models=["mock/echo"])
    assert result.model == "mock/echo" and result.fallback is not None
    assert series("generate")["fallbacks"] == {"not_found": 1}
    assert series("generate", model="ghost")["errors_by_type"] == {"ModelNotFoundError": 1}
    ok = [r for r in metric_records(caplog) if r["status"] == "ok"]
    assert len(ok) == 1 and (ok[0]["fallback_from"], ok[0]["fallback_reason"]) == ("ghost", "not_found")
    line = next(r.getMessage() for r in caplog.records if "fallback_from" in r.getMessage())
    assert "model=mock/echo" in line and "fallback_from=ghost fallback_reason=not_found" in line
