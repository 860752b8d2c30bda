"""The cache plugin through the adapter: opt-in, deterministic only, keys, streams, errors, stores, stats."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import ultra_llm_cache
from click.testing import CliRunner
from ultra_llm_cache import runtime
from ultra_llm_cache.cli import COMMANDS
from ultra_llm_cache.store import request_key

from ultra_llm import Message
from ultra_llm._adapter import Adapter
from ultra_llm._cli.app import build_cli
from ultra_llm._host import PluginHost
from ultra_llm.errors import ConfigurationError, GenerationError

MakeAdapter = Callable[..., Adapter]
Count = Callable[[], int]


def test_the_plugin_is_installed_as_innermost_middleware(
    ultra_llm_host: PluginHost, counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = ultra_llm_host.records["cache"]
    assert record.status == "loaded" and record.distribution == "ultra-llm-cache"
    assert record.hooks == ["ultra_llm_middleware", "ultra_llm_register_commands", "ultra_llm_register_settings"]
    ours = {"cache", "metrics"}  # an installed third-party plugin may add middleware of its own
    assert not [layer for layer in counting_adapter().adapter.chain.layers if layer.plugin in ours], "off: no layer"
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    monkeypatch.setenv("ULTRA_LLM_METRICS", "1")
    layers = [layer.plugin for layer in counting_adapter().adapter.chain.layers]
    assert [plugin for plugin in layers if plugin in ours] == ["metrics", "cache"]
    assert layers[0] == "metrics" and layers[-1] == "cache", "outermost and innermost"


def test_installed_but_not_enabled_changes_nothing(counting_adapter: MakeAdapter, generations: Count) -> None:
    adapter = counting_adapter()
    assert adapter.generate("same", temperature=0) == "same"
    assert adapter.generate("same", temperature=0) == "same"
    assert [c.text for c in adapter.stream("same", temperature=0)] == ["same", ""]
    assert generations() == 3
    figures = ultra_llm_cache.stats()
    assert figures["mode"] == "off" and figures["store"] is None
    assert figures["process"] == {"hits": 0, "misses": 0, "skipped": 0, "stored": 0, "errors": 0}


@pytest.mark.parametrize("mode", ["memory", "sqlite"])
def test_a_deterministic_generation_is_answered_once(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str, generations: Count
) -> None:
    monkeypatch.setenv("ULTRA_LLM_CACHE", mode)
    monkeypatch.setenv("ULTRA_LLM_CACHE_PATH", str(tmp_path / "cache.sqlite3"))
    adapter = counting_adapter()
    first = adapter.complete("the same question", temperature=0)
    second = adapter.complete("the same question", temperature=0)
    assert generations() == 1
    assert second == first and second.usage == first.usage and second.finish_reason == "stop"
    figures = ultra_llm_cache.stats()
    assert figures["mode"] == mode
    assert figures["process"] == {"hits": 1, "misses": 1, "skipped": 0, "stored": 1, "errors": 0}
    assert figures["store"]["entries"] == 1
    if mode == "sqlite":
        assert figures["path"] == str(tmp_path / "cache.sqlite3")
        assert (figures["store"]["hits"], figures["store"]["misses"]) == (1, 1)


def test_only_deterministic_requests_are_cached(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, generations: Count
) -> None:
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    adapter = counting_adapter()
    for options in ({}, {"temperature": 0.7}, {"top_p": 0.5}):
        adapter.generate("q", **options)
        adapter.generate("q", **options)
    assert generations() == 6
    assert ultra_llm_cache.stats()["process"]["skipped"] == 6
    adapter.generate("q", temperature=0.7, seed=42)
    adapter.generate("q", temperature=0.7, seed=42)
    adapter.generate("q", temperature=0.0)
    adapter.generate("q", temperature=0)
    assert generations() == 8, "a fixed seed, and temperature 0 (as 0 or 0.0), are cached"


def test_the_key_covers_backend_model_messages_and_options(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, generations: Count
) -> None:
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    echo, fixed = counting_adapter("mock/echo"), counting_adapter("mock/fixed")
    variants: list[tuple[Adapter, object, dict[str, object]]] = [
        (echo, "q", {"temperature": 0}),
        (fixed, "q", {"temperature": 0}),
        (echo, "q2", {"temperature": 0}),
        (echo, "q", {"temperature": 0, "max_tokens": 5}),
        (echo, "q", {"seed": 1}),
        (echo, "q", {"seed": 2}),
        (echo, "q", {"temperature": 0, "system_message": "be brief"}),
        (echo, [{"role": "user", "content": "earlier"}, {"role": "user", "content": "q"}], {"temperature": 0}),
    ]
    for adapter, prompt, options in variants:
        adapter.complete(prompt, **options)  # type: ignore[arg-type]
    assert generations() == len(variants), "every variant is a different key"
    for adapter, prompt, options in variants:
        adapter.complete(prompt, **options)  # type: ignore[arg-type]
    assert generations() == len(variants), "and each is answered from the cache the second time"
    assert fixed.complete("q", temperature=0).model == "mock/fixed"


@pytest.mark.parametrize("mode", ["memory", "sqlite"])
def test_several_answers_are_keyed_by_n_and_kept_whole(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str, generations: Count
) -> None:
    """``n`` is part of the key (issue 30): one answer is never served for two, and a hit gives back
    every answer and its log probabilities, whole and streamed, from memory and from SQLite."""
    monkeypatch.setenv("ULTRA_LLM_CACHE", mode)
    monkeypatch.setenv("ULTRA_LLM_CACHE_PATH", str(tmp_path / "cache.sqlite3"))
    adapter = counting_adapter()
    one = adapter.complete("q", temperature=0)
    two = adapter.complete("q", temperature=0, n=2, logprobs=True)
    assert generations() == 2 and one.choices == () and len(two.choices) == 2
    assert adapter.complete("q", temperature=0, n=2, logprobs=True) == two
    streamed = list(adapter.stream("q", temperature=0, n=2, logprobs=True))
    again = list(adapter.stream("q", temperature=0, n=2, logprobs=True))
    assert generations() == 3 and again == streamed and {chunk.index for chunk in again} == {0, 1}


def test_the_key_is_stable_across_processes(counting_adapter: MakeAdapter) -> None:
    request = counting_adapter().build_request(
        [Message("system", "s"), Message("user", "ünïcode")], {"temperature": 0, "stop": ["x", "y"], "seed": 3}
    )
    here = request_key(request, "generate")
    code = (
        "from ultra_llm._types import GenerationRequest, Message\n"
        "from ultra_llm_cache.store import request_key\n"
        "r = GenerationRequest('mock/echo', (Message('system', 's'), Message('user', 'ünïcode')), None, 'counting',"
        " {'seed': 3, 'stop': ['x', 'y'], 'temperature': 0.0})\n"
        "print(request_key(r, 'generate'), request_key(r, 'stream'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    there, there_stream = done.stdout.split()
    assert there == here and len(here) == 64
    assert there_stream != here, "whole and streamed answers are cached apart"


def test_a_streamed_hit_replays_the_same_chunks(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, generations: Count
) -> None:
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    adapter = counting_adapter()
    first = list(adapter.stream("one two three", temperature=0))
    second = list(adapter.stream("one two three", temperature=0))
    assert generations() == 1
    assert second == first and [c.text for c in first] == ["one ", "two ", "three", ""]
    assert second[-1].finish_reason == "stop" and second[-1].usage is not None
    adapter.generate("one two three", temperature=0)
    assert generations() == 2, "a whole generation does not reuse a stream's entry"


def test_a_stream_read_partly_or_failing_is_not_stored(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, generations: Count
) -> None:
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    adapter = counting_adapter()
    for chunk in adapter.stream("one two three", seed=1):
        assert chunk.text == "one "
        break
    assert [c.text for c in adapter.stream("one two three", seed=1)] == ["one ", "two ", "three", ""]
    assert generations() == 2, "the early stop stored nothing"
    for _ in range(2):
        with pytest.raises(GenerationError, match="boom"):
            list(adapter.stream("boom", seed=1))
    assert generations() == 4
    assert ultra_llm_cache.stats()["process"]["stored"] == 1


def test_errors_are_never_cached(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, generations: Count
) -> None:
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    adapter = counting_adapter()
    for _ in range(3):
        with pytest.raises(GenerationError, match="boom"):
            adapter.generate("boom now", temperature=0)
    assert generations() == 3
    assert ultra_llm_cache.stats()["store"]["entries"] == 0


def test_the_memory_store_is_a_bounded_lru(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, generations: Count
) -> None:
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    monkeypatch.setenv("ULTRA_LLM_CACHE_MAX_ENTRIES", "2")
    adapter = counting_adapter()
    adapter.generate("a", seed=0)
    adapter.generate("b", seed=0)
    adapter.generate("a", seed=0)  # hit: a is now the most recently used
    adapter.generate("c", seed=0)  # evicts b
    assert generations() == 3
    adapter.generate("a", seed=0)
    assert generations() == 3
    adapter.generate("b", seed=0)
    assert generations() == 4
    assert ultra_llm_cache.stats()["store"]["entries"] == 2


def test_invalid_settings_are_configuration_errors(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read when the adapter is made: a bad value fails that, not a request, and no plugin is blamed."""
    monkeypatch.setenv("ULTRA_LLM_CACHE", "redis")
    with pytest.raises(ConfigurationError, match="ULTRA_LLM_CACHE='redis'"):
        counting_adapter()
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    monkeypatch.setenv("ULTRA_LLM_CACHE_MAX_ENTRIES", "0")
    with pytest.raises(ConfigurationError, match="ULTRA_LLM_CACHE_MAX_ENTRIES"):
        counting_adapter()
    monkeypatch.setenv("ULTRA_LLM_CACHE_MAX_ENTRIES", "10")
    assert counting_adapter().generate("x", temperature=0) == "x"


@pytest.mark.parametrize("value", ["0", "off", "OFF", "none", ""])
def test_off_values(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, value: str, generations: Count
) -> None:
    monkeypatch.setenv("ULTRA_LLM_CACHE", value)
    adapter = counting_adapter()
    adapter.generate("x", temperature=0)
    adapter.generate("x", temperature=0)
    assert generations() == 2 and ultra_llm_cache.stats()["mode"] == "off"


def test_a_broken_store_never_fails_a_generation(
    counting_adapter: MakeAdapter,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    generations: Count,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    monkeypatch.setenv("ULTRA_LLM_CACHE", "sqlite")
    monkeypatch.setenv("ULTRA_LLM_CACHE_PATH", str(blocker / "cache.sqlite3"))
    adapter = counting_adapter()
    with caplog.at_level(logging.WARNING, logger="ultra_llm.cache"):
        assert adapter.generate("still answered", temperature=0) == "still answered"
        assert [c.text for c in adapter.stream("streamed", temperature=0)] == ["streamed", ""]
    assert generations() == 2
    figures = ultra_llm_cache.stats()
    assert figures["process"]["errors"] == 4, "two failed lookups and two failed stores"
    assert figures["process"]["hits"] == figures["process"]["stored"] == 0
    assert "FileExistsError" in figures["store"]["error"]
    assert any("cache lookup failed" in r.getMessage() for r in caplog.records)


def test_the_cache_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, counting_adapter: MakeAdapter) -> None:
    cli = build_cli()
    for command in COMMANDS:
        cli.add_command(command)
    runner = CliRunner()
    off = runner.invoke(cli, ["cache", "stats"])
    assert off.exit_code == 0 and "Caching is off" in off.output

    monkeypatch.setenv("ULTRA_LLM_CACHE", "sqlite")
    monkeypatch.setenv("ULTRA_LLM_CACHE_PATH", str(tmp_path / "c.sqlite3"))
    adapter = counting_adapter()
    for prompt in ("a", "b", "a"):
        adapter.generate(prompt, temperature=0)
    runtime.reset()  # as a new process would see it: only the file's figures
    shown = runner.invoke(cli, ["cache", "stats", "--json"])
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.stdout)
    assert figures["mode"] == "sqlite" and figures["store"]["entries"] == 2
    assert (figures["store"]["hits"], figures["store"]["misses"]) == (1, 2)
    assert "Hits:    1 (33% hit rate)" in runner.invoke(cli, ["cache", "stats"]).output
    cleared = runner.invoke(cli, ["cache", "clear"])
    assert cleared.exit_code == 0 and "Removed 2 cached answers." in cleared.output
    assert ultra_llm_cache.stats()["store"]["entries"] == 0

    monkeypatch.setenv("ULTRA_LLM_CACHE", "bogus")
    bad = runner.invoke(cli, ["cache", "stats"])
    assert bad.exit_code == 2 and "ULTRA_LLM_CACHE" in bad.output


def test_a_conversation_id_is_not_part_of_the_key(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, generations: Count
) -> None:
    """The id only says which server keeps a conversation's cache: the same question in two
    conversations has one answer, stored once."""
    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    adapter = counting_adapter()
    first = adapter.complete("q", temperature=0, conversation="one")
    assert adapter.complete("q", temperature=0, conversation="two") == first
    assert generations() == 1


def test_a_fallback_answer_is_stored_as_the_answering_models_never_the_requested_ones(
    counting_adapter: MakeAdapter, monkeypatch: pytest.MonkeyPatch, generations: Count
) -> None:
    """Each step of a chain reaches the cache as a request for its own model (issue 32): the answer of
    a fallback is found again under that model, and the model asked for, once back, answers itself."""
    from .conftest import _Tally

    monkeypatch.setenv("ULTRA_LLM_CACHE", "memory")
    adapter = counting_adapter()
    _Tally.missing.add("mock/flaky")
    first = adapter.complete("q", model="mock/flaky", fallback_models=["mock/echo"], temperature=0)
    assert first.model == "mock/echo" and first.text == "q" and first.fallback is not None
    assert generations() == 2  # flaky's failure, echo's answer
    again = adapter.complete("q", model="mock/flaky", fallback_models=["mock/echo"], temperature=0)
    assert again.text == "q" and again.fallback is not None and again.fallback.reason == "cooling_down"
    assert generations() == 2  # flaky cooling down, echo's answer from the cache
    _Tally.missing.clear()  # flaky is back
    own = adapter.complete("q", model="mock/flaky", temperature=0)
    assert own.model == "mock/flaky" and own.fallback is None and own.text != "q"
    assert generations() == 3, "the fallback's answer was never stored as flaky's"
    assert adapter.complete("q", model="mock/echo", temperature=0).text == "q" and generations() == 3
