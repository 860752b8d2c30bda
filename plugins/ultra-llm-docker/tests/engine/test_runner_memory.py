"""The runner double's memory: slots, load time, eviction and waiting, as docker/model-runner's loader
(``pkg/inference/scheduling/loader.go`` at 642c7211, rules cited in ``dmr_proxy``), at the HTTP
boundary on 127.0.0.1, over the canned engine (no llama-server needed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from ultra_llm_docker.testing.engine.canned_engine import CannedEngine
from ultra_llm_docker.testing.engine.dmr_proxy import DMRProxy
from ultra_llm_docker.testing.engine.memory_runner import MemoryRunner

from ultra_llm.testing.waiting import until

A, B, C = "ai/tiny:latest", "ai/other:latest", "ai/third:latest"
CHAT_PATH = "/engines/v1/chat/completions"
Make = Callable[..., MemoryRunner]


def chat(url: str, model: str, **extra: Any) -> httpx2.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    with httpx2.Client(timeout=60) as client:
        return client.post(url + CHAT_PATH, json=body)


def ps(url: str) -> list[dict[str, Any]]:
    with httpx2.Client(timeout=30) as client:
        rows = client.get(url + "/engines/ps").json()
    assert isinstance(rows, list)
    return rows


def resident(url: str) -> list[str]:
    return sorted(row["model_name"] for row in ps(url) if not row.get("loading"))


class Background:
    """One request on its own thread; ``done`` is set once it has an answer (or failed)."""

    def __init__(self, call: Callable[[], httpx2.Response]) -> None:
        self.done = threading.Event()
        self.response: httpx2.Response | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.response = call()
            except BaseException as exc:  # reported by result()
                self.error = exc
            finally:
                self.done.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def result(self, within: float = 30) -> httpx2.Response:
        assert self.done.wait(within), "the request was never answered"
        self.thread.join(within)
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


def test_one_slot_alternating_models_load_every_time(make_memory_runner: Make) -> None:
    runner = make_memory_runner([A, B], slots=1)
    for model in (A, B, A, B):
        response = chat(runner.url, model)
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == "Hello from the canned engine."
        assert resident(runner.url) == [model]  # the other, idle, was evicted to make room
    assert runner.proxy.loads == 4
    assert runner.proxy.load_counts == {A: 2, B: 2}
    assert runner.proxy.evictions == 3
    assert len(runner.engine.requests) == 4


def test_the_same_model_again_loads_nothing(make_memory_runner: Make) -> None:
    runner = make_memory_runner([A, B], slots=1)
    for _ in range(3):
        assert chat(runner.url, "tiny").status_code == 200  # a partial name is the same model
    assert (runner.proxy.loads, runner.proxy.load_counts, runner.proxy.evictions) == (1, {A: 1}, 0)
    assert [m for m, p in runner.proxy.requests if p == CHAT_PATH] == ["POST"] * 3


def test_two_slots_keep_both_models_resident(make_memory_runner: Make) -> None:
    runner = make_memory_runner([A, B], slots=2)
    for model in (A, B, A, B, A):
        assert chat(runner.url, model).status_code == 200
    assert resident(runner.url) == sorted([A, B])
    assert (runner.proxy.loads, runner.proxy.load_counts, runner.proxy.evictions) == (2, {A: 1, B: 1}, 0)


def test_full_slots_evict_every_idle_model_not_just_one(make_memory_runner: Make) -> None:
    """``evict(false)`` (loader.go:237-265, called at 580-589) frees every unused runner, the most
    recently used and one configured never to expire (``keep_alive`` -1) included."""
    runner = make_memory_runner([A, B, C], slots=2)
    with httpx2.Client(base_url=runner.url, timeout=30) as client:
        configured = client.post("/engines/_configure", json={"model": A, "keep_alive": "-1"})
        assert configured.status_code == 202
    assert until(lambda: resident(runner.url) == [A])  # configure preloads
    assert chat(runner.url, B).status_code == 200
    rows = {row["model_name"]: row for row in ps(runner.url)}
    assert sorted(rows) == sorted([A, B]) and rows[A]["keep_alive"] == "-1"
    assert chat(runner.url, C).status_code == 200
    assert resident(runner.url) == [C]  # one slot would have done; both idle models went
    assert runner.proxy.evictions == 2
    assert runner.proxy.load_counts == {A: 1, B: 1, C: 1}


def test_a_busy_model_is_not_evicted_and_only_the_idle_one_goes(make_memory_runner: Make) -> None:
    runner = make_memory_runner([A, B, C], slots=2)
    runner.proxy.hold(A)  # another client's generation on A
    assert chat(runner.url, B).status_code == 200
    assert chat(runner.url, C).status_code == 200  # B idle: evicted; A busy: kept
    rows = {row["model_name"]: row for row in ps(runner.url)}
    assert sorted(rows) == sorted([A, C]) and rows[A]["in_use"] is True
    assert runner.proxy.evictions == 1
    runner.proxy.hold(A, busy=False)


def test_a_load_waits_while_every_resident_model_is_busy(make_memory_runner: Make) -> None:
    """With no unused runner, ``evict(false)`` frees nothing and the load waits for a broadcast
    (loader.go:601-603, 649-660); releasing the busy runner signals it (loader.go:664-700)."""
    runner = make_memory_runner([A, B], slots=1)
    runner.proxy.hold(A)
    waiting = Background(lambda: chat(runner.url, B))
    assert until(lambda: ("POST", CHAT_PATH) in runner.proxy.requests), "the proxy never got the request"
    assert until(lambda: runner.proxy.waiting == 1)  # it waits in the loader's loop
    assert not waiting.done.is_set()
    rows = ps(runner.url)
    assert [(row["model_name"], row.get("in_use"), row.get("loading")) for row in rows] == [(A, True, None)]
    assert runner.engine.requests == [] and runner.proxy.loads == 1
    runner.proxy.hold(A, busy=False)
    response = waiting.result()
    assert response.status_code == 200, response.text
    assert resident(runner.url) == [B]
    assert (runner.proxy.loads, runner.proxy.evictions) == (2, 1)


def test_a_waiting_load_of_a_busy_model_itself_needs_no_slot(make_memory_runner: Make) -> None:
    runner = make_memory_runner([A, B], slots=1)
    runner.proxy.hold(A)
    assert chat(runner.url, A).status_code == 200  # its runner is shared (loader.go:560-577)
    assert runner.proxy.loads == 1
    runner.proxy.hold(A, busy=False)


def test_ps_shows_loading_during_a_load_and_its_requests_wait(make_memory_runner: Make) -> None:
    runner = make_memory_runner([A, B], slots=1, load_time=1.5)
    first = Background(lambda: chat(runner.url, B))
    second = Background(lambda: chat(runner.url, "other"))  # the same model: waits for that load
    seen: list[dict[str, Any]] = []

    def loading_row() -> bool:
        seen[:] = [row for row in ps(runner.url) if row.get("loading")]
        return bool(seen) or first.done.is_set()

    assert until(loading_row, within=30)
    # getLoaderStatus's row for a load (scheduler.go:274-282): no in_use, no keep_alive, zero time.
    assert seen == [
        {
            "backend_name": "llama.cpp",
            "model_name": B,
            "mode": "completion",
            "last_used": "0001-01-01T00:00:00Z",
            "loading": True,
        }
    ]
    assert not first.done.is_set() and not second.done.is_set()
    assert runner.engine.requests == []
    assert first.result().status_code == 200 and second.result().status_code == 200
    assert [row.get("loading") for row in ps(runner.url)] == [None]
    assert runner.proxy.load_counts == {B: 1}  # one load served both (loader.go:554-558)


def test_configure_answers_at_once_and_preloads_when_a_slot_frees(make_memory_runner: Make) -> None:
    """The preload after ``_configure`` runs in the background (http_handler.go:488-520): the 202 does
    not wait for the slot it needs."""
    runner = make_memory_runner([A, B], slots=1)
    runner.proxy.hold(A)
    with httpx2.Client(base_url=runner.url, timeout=30) as client:
        assert client.post("/engines/_configure", json={"model": B, "context-size": 512}).status_code == 202
    assert until(lambda: runner.proxy.waiting == 1)
    assert resident(runner.url) == [A]
    runner.proxy.hold(A, busy=False)
    assert until(lambda: resident(runner.url) == [B])
    assert (runner.proxy.load_counts, runner.proxy.evictions, runner.proxy.waiting) == ({A: 1, B: 1}, 1, 0)


def test_preload_only_loads_and_counts_without_the_engine(make_memory_runner: Make) -> None:
    runner = make_memory_runner([A, B], slots=1)
    body = {"model": B, "messages": []}
    with httpx2.Client(base_url=runner.url, timeout=30) as client:
        response = client.post(CHAT_PATH, json=body, headers={"X-Preload-Only": "true"})
    assert (response.status_code, response.text) == (200, "")
    assert resident(runner.url) == [B]
    assert runner.proxy.load_counts == {B: 1} and runner.engine.requests == []


def test_the_canned_engine_streams_in_llama_servers_shape(make_memory_runner: Make) -> None:
    runner = make_memory_runner([A], slots=1, reply="one two three")
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 2,
    }
    with httpx2.Client(timeout=30) as client, client.stream("POST", runner.url + CHAT_PATH, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        events = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and {c["model"] for c in chunks} == {A}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:3]] == ["one", " two"]
    assert chunks[3]["choices"] == [{"finish_reason": "length", "index": 0, "delta": {}}]
    assert chunks[4]["choices"] == [] and chunks[4]["usage"]["completion_tokens"] == 2
    assert "timings" in chunks[4] and len({c["id"] for c in chunks}) == 1
    whole = chat(runner.url, A, max_tokens=10).json()
    assert whole["object"] == "chat.completion" and whole["id"].startswith("chatcmpl-")
    assert whole["choices"] == [
        {"finish_reason": "stop", "index": 0, "message": {"role": "assistant", "content": "one two three"}}
    ]
    assert whole["usage"]["total_tokens"] == whole["usage"]["prompt_tokens"] + 3


def test_the_canned_engine_alone_answers_errors_and_delays() -> None:
    with CannedEngine(delay=0.05) as engine, httpx2.Client(base_url=engine.base_url, timeout=30) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/v1/models").json()["data"][0]["id"] == "ai/tiny"
        bad = client.post("/v1/chat/completions", json={"model": "x", "messages": "hi"})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        assert client.get("/nope").json()["error"]["type"] == "not_found_error"
        ok = client.post("/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": "a"}]})
        assert ok.status_code == 200 and ok.json()["model"] == "ai/tiny"  # its alias, as llama-server
    assert engine.max_active == 1 and len(engine.requests) == 1


def test_defaults_keep_the_old_runner() -> None:
    proxy = DMRProxy("http://127.0.0.1:9")
    assert (proxy.slots, proxy.load_time) == (None, 0.0)
    with pytest.raises(ValueError, match="slots"):
        DMRProxy("http://127.0.0.1:9", slots=0)
