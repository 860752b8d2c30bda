"""Property-based fuzzing of the Docker backends' parsers: `list` table and JSON, `status`, failure
classification, SSE (httpx2's, as the transport uses it) and NDJSON framing, stream events, whole
bodies, pull records, error bodies.

Contract checked: each parser returns its documented type or raises its documented error
(``ValueError`` for the CLI's JSON parsers, ``MalformedResponse``/``StreamError``/``PullFailed`` for
the API's); error mapping always gives an ``UltraLLMError``. Known violations are strict xfails.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ultra_llm._types import Chunk, Progress
from ultra_llm.errors import UltraLLMError

cli = pytest.importorskip("ultra_llm_docker_cli.parsers")
failures = pytest.importorskip("ultra_llm_docker_cli.failures")
run_output = pytest.importorskip("ultra_llm_docker_cli.run_output")
pytest.importorskip("httpx2")
parsing = pytest.importorskip("ultra_llm_docker_api.parsing")
error_map = pytest.importorskip("ultra_llm_docker_api.error_map")

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=16)
HEADER = "MODEL NAME  PARAMETERS  QUANTIZATION   ARCHITECTURE  MODEL ID      CREATED      CONTEXT  SIZE"


# -- docker-cli --------------------------------------------------------------------------------


@FUZZ
@given(st.text())
def test_list_table_never_raises_on_any_text(text: str) -> None:
    for model in cli.parse_list_table(text):
        assert model.name and model.name != "<none>"


@FUZZ
@given(st.lists(st.lists(cells, min_size=1, max_size=9), max_size=6))
def test_list_table_with_a_real_header_and_random_rows(rows: list[list[str]]) -> None:
    text = "\n".join([HEADER, *("  ".join(row) for row in rows)])
    for model in cli.parse_list_table(text):
        assert model.name.strip() == model.name and model.name


def models_json() -> st.SearchStrategy[Any]:
    model = st.fixed_dictionaries(
        {},
        optional={
            "id": json_values,
            "tags": st.lists(json_values, max_size=3) | json_values,
            "created": json_values,
            "config": st.dictionaries(
                st.sampled_from(["parameters", "quantization", "size", "context_size", "gguf", "architecture"]),
                json_values,
            )
            | json_values,
        },
    )
    return st.lists(model | json_values, max_size=4) | json_values


@FUZZ
@given(models_json())
def test_list_json_gives_models_or_value_error(value: Any) -> None:
    try:
        models = cli.parse_list_json(json.dumps(value))
    except ValueError:
        assert not isinstance(value, list)
        return
    assert all(isinstance(m.name, str) and m.name for m in models)


@FUZZ
@given(st.text())
def test_list_and_status_json_on_any_text(text: str) -> None:
    for parse in (cli.parse_list_json, cli.parse_status_json):
        with contextlib.suppress(ValueError):
            parse(text)


@FUZZ
@given(json_values | st.dictionaries(st.sampled_from(["running", "backends", "kind", "endpoint"]), json_values))
def test_status_json_gives_a_status_or_value_error(value: Any) -> None:
    try:
        status = cli.parse_status_json(json.dumps(value))
    except ValueError:
        assert not isinstance(value, dict)
        return
    assert status.running in (True, False, None)


@FUZZ
@given(st.text(), st.sampled_from(["", "Docker Model Runner is running\n\n", "Docker Model Runner is not running\n"]))
def test_status_text_never_raises(text: str, prefix: str) -> None:
    status = cli.parse_status_text(prefix + text)
    assert status.running in (True, False, None)
    if prefix.startswith("Docker Model Runner is running"):
        assert status.running is True


@FUZZ
@given(st.text(), st.text(), st.integers(-64, 255), st.sampled_from(["run", "list", "pull", "status", "rm"]))
def test_every_cli_failure_maps_to_a_typed_error(stderr: str, stdout: str, code: int, action: str) -> None:
    error = failures.error_for(action, returncode=code or 1, stderr=stderr, stdout=stdout, model="ai/x:latest")
    assert isinstance(error, UltraLLMError) and error.fix


@FUZZ
@given(st.text())
def test_size_and_progress_lines(text: str) -> None:
    size = cli.parse_size(text)
    assert size is None or size >= 0
    progress = cli.parse_progress_line(text)
    assert progress is None or len(progress) == 2


@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_run_output_parser_takes_any_bytes(parts: list[bytes]) -> None:
    parser = run_output.RunOutputParser()
    events = [event for part in parts for event in parser.feed(part)] + parser.finish()
    assert all(isinstance(event.text, str) for event in events)


# -- docker-api ---------------------------------------------------------------------------------


@FUZZ
@given(st.lists(st.binary(max_size=80), max_size=20))
def test_sse_framing_takes_any_bytes(parts: list[bytes]) -> None:
    """The stream's SSE framing (httpx2's ``EventSource`` through the transport) gives events or ``SSEError``."""
    import asyncio

    import httpx2
    from ultra_llm_docker_api.settings import DockerAPISettings, resolve
    from ultra_llm_docker_api.transport import Transport

    class Body(httpx2.AsyncByteStream):
        async def __aiter__(self) -> Any:
            for part in parts:
                yield part

    async def read() -> list[str]:
        transport = Transport(resolve(DockerAPISettings.load(url="http://127.0.0.1:9")))
        request = httpx2.Request("POST", "http://127.0.0.1:9")
        response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=Body(), request=request)
        return [e.data async for e in transport.events(response)]

    try:
        events = asyncio.run(read())
    except httpx2.SSEError:
        return
    assert all(isinstance(event, str) for event in events)


@FUZZ
@given(st.lists(st.binary(max_size=80), max_size=20), st.integers(16, 4096))
def test_ndjson_decoder_takes_any_bytes(parts: list[bytes], cap: int) -> None:
    decoder = parsing.NDJSONDecoder(max_line_bytes=cap)
    try:
        lines = [line for part in parts for line in decoder.feed(part)] + decoder.finish()
    except parsing.MalformedResponse:
        return
    assert all(b"\n" not in line for line in lines)


@FUZZ
@given(st.binary(max_size=200))
def test_load_json_raises_only_malformed_response(data: bytes) -> None:
    with contextlib.suppress(parsing.MalformedResponse):
        parsing.load_json(data, "a body")


def stream_events() -> st.SearchStrategy[Any]:
    choice = st.fixed_dictionaries(
        {},
        optional={
            "delta": st.fixed_dictionaries({}, optional={"content": json_values, "reasoning_content": json_values})
            | json_values,
            "finish_reason": json_values,
        },
    )
    event = st.fixed_dictionaries(
        {},
        optional={"choices": st.lists(choice | json_values, max_size=2), "usage": json_values, "object": json_values},
    )
    return event | json_values


@FUZZ
@given(stream_events())
def test_stream_events_give_chunks_or_typed_errors(event: Any) -> None:
    try:
        chunks = parsing.chunks_from_event(event)
    except (parsing.MalformedResponse, parsing.StreamError):
        return
    assert all(isinstance(chunk, Chunk) for chunk in chunks)


@FUZZ
@given(
    json_values | st.fixed_dictionaries({"choices": st.lists(json_values, max_size=2)}, optional={"usage": json_values})
)
def test_whole_completions_give_a_completion_or_malformed(body: Any) -> None:
    try:
        completion = parsing.completion_from_body(body)
    except parsing.MalformedResponse:
        return
    assert isinstance(completion.text, str)


@FUZZ
@given(
    st.lists(st.fixed_dictionaries({"type": st.sampled_from(["progress", "success", "warning", "info"])}, optional={
        "message": json_values, "total": json_values,
        "layer": st.fixed_dictionaries({}, optional={"id": json_values, "current": json_values, "size": json_values}),
    }) | json_values, max_size=6)
)  # fmt: skip
def test_pull_records_give_progress_or_malformed(records: list[Any]) -> None:
    tracker = parsing.PullTracker()
    for record in records:
        try:
            assert isinstance(tracker.feed(record), Progress)
        except parsing.MalformedResponse:
            assert not isinstance(record, dict) or not isinstance(record.get("type"), str)


@FUZZ
@given(st.sampled_from([0, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504]), st.binary(max_size=300))
def test_error_bodies_always_map_to_a_typed_error(status: int, body: bytes) -> None:
    error = error_map.error_from_body(status, body, model="ai/x:latest", url="http://h/x")
    assert isinstance(error, UltraLLMError) and error.fix


@FUZZ
@given(st.integers(0, 599), json_values)
def test_json_error_bodies_always_map_to_a_typed_error(status: int, value: Any) -> None:
    body = json.dumps({"error": value}).encode()
    assert isinstance(error_map.error_from_body(status, body, model=None, url="http://h/x"), UltraLLMError)


@FUZZ
@given(st.text(max_size=40))
def test_retry_after_is_none_or_non_negative(value: str) -> None:
    wait = parsing.parse_retry_after(value)
    assert wait is None or wait >= 0


@FUZZ
@given(st.lists(st.fixed_dictionaries({}, optional={"id": json_values, "tags": st.lists(json_values, max_size=3)})))
def test_runner_model_listing_with_tag_lists(listing: list[Any]) -> None:
    for name, details in parsing.models_from_runner(listing):
        assert isinstance(name, str) and name and isinstance(details, dict)


@FUZZ
@given(json_values)
def test_openai_model_listing(listing: Any) -> None:
    try:
        found = parsing.models_from_openai(listing)
    except parsing.MalformedResponse:
        return
    assert all(isinstance(name, str) for name, _ in found)


# -- known violations, each a bug report -----------------------------------------------------------


@pytest.mark.parametrize("event", [{"choices": {"a": 1}}, {"choices": 5}])
def test_bug_stream_event_with_non_list_choices(event: Any) -> None:
    with pytest.raises(parsing.MalformedResponse):
        parsing.chunks_from_event(event)


@pytest.mark.parametrize("tags", [5, "abc"])
def test_bug_runner_listing_with_non_list_tags(tags: Any) -> None:
    found = parsing.models_from_runner([{"tags": tags}])
    assert found == []


def test_bug_embeddings_with_mixed_index_types() -> None:
    body = {"data": [{"index": "a", "embedding": [1.0]}, {"index": 1, "embedding": [2.0]}]}
    with pytest.raises(parsing.MalformedResponse, match="index values are not all integers"):
        parsing.embeddings_from_body(body, 2)


@pytest.mark.parametrize("parse", ["load_json", "parse_list_json", "parse_status_json"])
def test_bug_deeply_nested_json(parse: str) -> None:
    deep = "[" * 100_000
    with pytest.raises(ValueError, match="nested too deeply"):  # not a RecursionError
        if parse == "load_json":
            parsing.load_json(deep.encode(), "a body")
        else:
            getattr(cli, parse)(deep)
