"""The mock backend: the conformance suite, canned answers, latency and every injected fault."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ultra_llm_mock.backend import FIXED_ANSWER, split_words

from ultra_llm import create_adapter_sync
from ultra_llm._adapter import Adapter
from ultra_llm._host import PluginHost
from ultra_llm.errors import (
    BackendUnavailableError,
    ConfigurationError,
    GenerationError,
    GenerationTimeoutError,
    ModelNotFoundError,
    StreamInterruptedError,
)
from ultra_llm.testing import BackendConformance


class TestMockConformance(BackendConformance):
    backend = "mock"
    model = "mock/echo"
    options: ClassVar[dict[str, Any]] = {"temperature": 0}

    @pytest.fixture
    def backend_settings(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any] | None:
        monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "unknown-model")
        return None


def adapter(model: str = "mock/echo", **overrides: object) -> Adapter:
    return create_adapter_sync(model, host=PluginHost(), backend="mock", **overrides)


@pytest.mark.parametrize("text", ["", "one", "  leading and trailing  ", "tabs\tand\nnewlines\n\n", "ünïcödé 日本語"])
def test_split_words_joins_back_exactly(text: str) -> None:
    assert "".join(split_words(text)) == text


def test_fixed_model_and_fallback_model_answers() -> None:
    with adapter("mock/fixed") as fixed:
        assert fixed.generate("whatever") == FIXED_ANSWER
    with adapter("ai/smollm2") as other:
        assert other.generate("hello") == f"{FIXED_ANSWER} You said: hello"


def test_canned_answers_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"What is 2+2?": "4"}))
    monkeypatch.setenv("ULTRA_LLM_MOCK_ANSWERS", str(answers))
    with adapter() as mock:
        assert mock.generate("What is 2+2?") == "4"
        assert mock.generate("other") == "other"


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"a": 1}'])
def test_bad_canned_answers_file_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(content)
    monkeypatch.setenv("ULTRA_LLM_MOCK_ANSWERS", str(answers))
    with pytest.raises(ConfigurationError, match="ULTRA_LLM_MOCK_ANSWERS"):
        adapter()


def test_latency_is_applied_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_DELAY", "0.02")
    monkeypatch.setenv("ULTRA_LLM_MOCK_FIRST_TOKEN_DELAY", "0.05")
    with adapter() as mock:
        start = time.perf_counter()
        stamps = [time.perf_counter() - start for _ in mock.stream("a b c d")]
    assert stamps[0] >= 0.05
    assert stamps[-1] >= 0.05 + 3 * 0.02


@pytest.mark.parametrize(
    ("fault", "error"),
    [("fail", GenerationError), ("timeout", GenerationTimeoutError), ("fail-midstream", StreamInterruptedError)],
)
def test_injected_generation_faults(monkeypatch: pytest.MonkeyPatch, fault: str, error: type[Exception]) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", fault)
    with adapter() as mock, pytest.raises(error):
        mock.generate("a b c d e")


def test_fail_midstream_delivers_the_first_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "fail-midstream")
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAIL_AFTER", "3")
    received: list[str] = []
    with adapter() as mock, pytest.raises(StreamInterruptedError):
        for chunk in mock.stream("a b c d e"):
            received.append(chunk.text)
    assert received == ["a ", "b ", "c "]


def test_unavailable_fault_makes_selection_fail_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "unavailable")
    with pytest.raises(BackendUnavailableError, match="ULTRA_LLM_MOCK_FAULT"):
        adapter()


def test_unknown_model_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_MOCK_FAULT", "unknown-model")
    with adapter("ai/smollm2") as mock, pytest.raises(ModelNotFoundError) as caught:
        mock.generate("x")
    assert "`ultra-llm models`" in caught.value.fix and "docker" not in caught.value.fix, "the core's neutral fix"


def test_pull_and_remove_with_progress() -> None:
    events = []
    with adapter() as mock:
        mock.pull("mock/new", progress=events.append)
        assert "mock/new" in [m.name for m in mock.list_models()]
        mock.remove("mock/new")
        with pytest.raises(ModelNotFoundError):
            mock.remove("mock/new")
    assert events[-1].status == "success"
    assert [e.completed for e in events[:3]] == sorted(e.completed for e in events[:3])


def test_a_requests_options_cannot_be_changed_in_place() -> None:
    """The options object a backend receives is frozen like the rest of the request, so no layer can
    change it after the cache computed its key."""
    import pydantic

    with adapter() as mock:
        request = mock.adapter.build_request("x", {"temperature": 0.5})
    assert request.options is not None and request.options.temperature == 0.5
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        request.options.temperature = 2.0


COMMON_OPTIONS: dict[str, Any] = {
    "top_k": 1,
    "min_p": 0.05,
    "frequency_penalty": -2,
    "presence_penalty": 2,
    "repeat_penalty": 1.1,
    "logprobs": True,
    "top_logprobs": 20,
    "n": 1,
    "user": "u-1",
}


def test_the_common_options_are_accepted_and_leave_the_answer_alone() -> None:
    """The mock takes the options callers send a real backend (issue 30) with the same ranges, and
    answers as without them: it is deterministic."""
    with adapter() as mock:
        plain = mock.generate("hello there", max_tokens=3)
        with_options = mock.generate("hello there", max_tokens=3, **COMMON_OPTIONS)
        request = mock.adapter.build_request("x", COMMON_OPTIONS)
    assert with_options == plain
    assert request.options_dict == COMMON_OPTIONS


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"top_k": -1}, "top_k"),
        ({"min_p": 1.5}, "min_p"),
        ({"frequency_penalty": 2.5}, "frequency_penalty"),
        ({"presence_penalty": -2.5}, "presence_penalty"),
        ({"repeat_penalty": 0}, "repeat_penalty"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"n": 0}, "n"),
        ({"n": 1.5}, "n"),
        ({"top_logprobs": 2}, "top_logprobs needs logprobs=true"),
        ({"logprobs": False, "top_logprobs": 2}, "add logprobs=true"),
    ],
)
def test_the_common_options_out_of_range_are_refused_before_generating(options: dict[str, Any], named: str) -> None:
    from ultra_llm.errors import InvalidOptionsError

    with adapter() as mock, pytest.raises(InvalidOptionsError, match=named):
        mock.generate("hello", **options)
