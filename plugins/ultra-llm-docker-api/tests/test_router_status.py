"""``router_status.model_states``: which models a multi-model server has loaded, from its models list.

The listings below were recorded from llama.cpp's ``llama-server`` b9878 (the tests' pinned engine):
in router mode over a models dir (``--models-dir DIR --models-max 1``, ``tiny-a.gguf``,
``tiny-b/weights.gguf`` and a ``broken.gguf`` that is not a GGUF, after a failed request for
``broken`` and ``POST /models/load`` of ``tiny-a``), and as a single-model server and behind Docker
Model Runner's layout, which say nothing about loading. The live router is read too
(``router_engine``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ultra_llm_docker.testing.engine.fixtures import RealEngine, RouterEngine
from ultra_llm_docker_api.router_status import ModelState, loaded_models, model_states

BINARY = "/root/.cache/ultra-llm/llama-server-b9878/llama-server"
MODELS_DIR = "/tmp/r-shapes-owrwj693/models"


def args(name: str, port: int, path: str) -> list[str]:
    """``status.args`` as recorded: the child's command line (port 0 until it is first spawned)."""
    return [
        BINARY, "--host", "127.0.0.1", "--jinja", "--metrics", "--port", str(port), "--alias", name,
        "--ctx-size", "4096", "--model", f"{MODELS_DIR}/{path}", "--parallel", "2", "--threads", "1",
        "--threads-batch", "1",
    ]  # fmt: skip


def preset(name: str, path: str) -> str:
    return (
        f"[{name}]\njinja = 1\nmetrics = 1\nctx-size = 4096\nmodel = {MODELS_DIR}/{path}\nparallel = 2\n"
        "threads = 1\nthreads-batch = 1\n\n"
    )


ARCHITECTURE = {"input_modalities": ["text"], "output_modalities": ["text"]}
META = {
    "vocab_type": 1, "n_vocab": 292, "n_ctx": 2048, "n_ctx_train": 2048, "n_embd": 64, "n_params": 119616,
    "size": 478464, "ftype": "all F32",
}  # fmt: skip


def entry(name: str, status: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "id": name, "aliases": [], "tags": [], "object": "model", "owned_by": "llamacpp", "created": 1796678055,
        "status": status, "architecture": ARCHITECTURE, "source": "models_dir", "can_remove": False, **more,
    }  # fmt: skip


#: ``GET /v1/models`` of the router: ``broken`` failed to load, ``tiny-a`` loaded, ``tiny-b`` never loaded.
ROUTER_LISTING = {
    "data": [
        entry(
            "broken",
            {
                "value": "unloaded",
                "args": args("broken", 52069, "broken.gguf"),
                "preset": preset("broken", "broken.gguf"),
                "exit_code": 1,
                "failed": True,
            },
        ),
        entry(
            "tiny-a",
            {
                "value": "loaded",
                "args": args("tiny-a", 52281, "tiny-a.gguf"),
                "preset": preset("tiny-a", "tiny-a.gguf"),
            },
            meta=META,
        ),
        entry(
            "tiny-b",
            {
                "value": "unloaded",
                "args": args("tiny-b", 0, "tiny-b/weights.gguf"),
                "preset": preset("tiny-b", "tiny-b/weights.gguf"),
            },
        ),
    ],
    "object": "list",
}
#: ``tiny-a``'s entry right after ``POST /models/load``: its child is starting.
LOADING_ENTRY = entry(
    "tiny-a",
    {"value": "loading", "args": args("tiny-a", 52281, "tiny-a.gguf"), "preset": preset("tiny-a", "tiny-a.gguf")},
)
#: A single-model ``llama-server -m tiny.gguf --alias ai/tiny``: no ``status``.
SINGLE_LISTING = json.loads(
    '{"models":[{"name":"ai/tiny","model":"ai/tiny","modified_at":"","size":"","digest":"","type":"model",'
    '"description":"","tags":[""],"capabilities":["completion"],"parameters":"","details":{"parent_model":"",'
    '"format":"gguf","family":"","families":[""],"parameter_size":"","quantization_level":""}}],"object":"list",'
    '"data":[{"id":"ai/tiny","aliases":["ai/tiny"],"tags":[],"object":"model","created":1796678167,'
    '"owned_by":"llamacpp","meta":{"vocab_type":1,"n_vocab":292,"n_ctx":2048,"n_ctx_train":2048,"n_embd":64,'
    '"n_params":119616,"size":478464,"ftype":"all F32"}}]}'
)
#: Docker Model Runner's ``GET /engines/v1/models`` (the tests' runner proxy): no ``status``.
RUNNER_LISTING = json.loads(
    '{"object": "list", "data": [{"id": "ai/tiny:latest", "object": "model", "created": 1796674567, '
    '"owned_by": "docker"}]}'
)


def test_the_recorded_router_listing() -> None:
    states = model_states(ROUTER_LISTING)
    assert states == {"broken": ModelState.FAILED, "tiny-a": ModelState.LOADED, "tiny-b": ModelState.UNLOADED}
    assert loaded_models(ROUTER_LISTING) == frozenset({"tiny-a"})
    assert states["tiny-a"] == "loaded" and isinstance(states["tiny-a"], str)  # a str enum


def test_the_recorded_loading_entry() -> None:
    assert model_states({"data": [LOADING_ENTRY]}) == {"tiny-a": ModelState.LOADING}
    assert loaded_models({"data": [LOADING_ENTRY]}) == frozenset()


@pytest.mark.parametrize("listing", [SINGLE_LISTING, RUNNER_LISTING, {"object": "list", "data": []}])
def test_a_plain_server_says_nothing(listing: object) -> None:
    assert model_states(listing) is None
    assert loaded_models(listing) is None


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ("unloaded", ModelState.UNLOADED),
        ("loading", ModelState.LOADING),
        ("loaded", ModelState.LOADED),
        ("sleeping", ModelState.SLEEPING),
        ("downloading", ModelState.DOWNLOADING),
        ("downloaded", ModelState.DOWNLOADED),
        ("Loaded ", ModelState.LOADED),
        ("unloading", ModelState.UNKNOWN),  # not a b9878 value: a later llama.cpp's
        ("unknown", ModelState.UNKNOWN),  # server_model_status_to_string's default
    ],
)
def test_every_status_value(value: str, state: ModelState) -> None:
    assert model_states({"data": [{"id": "m", "status": {"value": value}}]}) == {"m": state}
    assert model_states({"data": [{"id": "m", "status": value}]}) == {"m": state}  # a bare string too


def test_failed_counts_only_for_an_unloaded_model() -> None:
    assert model_states({"data": [{"id": "m", "status": {"value": "unloaded", "failed": True}}]}) == {
        "m": ModelState.FAILED
    }
    assert model_states({"data": [{"id": "m", "status": {"value": "loading", "failed": True}}]}) == {
        "m": ModelState.LOADING
    }
    assert model_states({"data": [{"id": "m", "status": {"value": "unloaded", "failed": "yes"}}]}) == {
        "m": ModelState.UNLOADED
    }


def test_aliases_answer_too_but_never_replace_an_id() -> None:
    listing = {
        "data": [
            {"id": "big", "aliases": ["fast", "", 3, "small"], "status": {"value": "loaded"}},
            {"id": "small", "aliases": ["fast", "tiny"], "status": {"value": "unloaded"}},
            {"id": "big", "status": {"value": "unloaded"}},  # a second entry with one name: the first counts
        ]
    }
    assert model_states(listing) == {
        "big": ModelState.LOADED,
        "small": ModelState.UNLOADED,
        "fast": ModelState.LOADED,
        "tiny": ModelState.UNLOADED,
    }


def test_a_bare_list_of_entries() -> None:
    assert model_states(ROUTER_LISTING["data"]) == model_states(ROUTER_LISTING)


def test_junk_entries_are_left_out() -> None:
    listing = {
        "data": [
            None,
            "tiny-a",
            ["id", "status"],
            {"status": {"value": "loaded"}},  # no id (still a router's listing)
            {"id": "", "status": {"value": "loaded"}},
            {"id": 7, "status": {"value": "loaded"}},
            {"id": "no-status"},
            {"id": "null-status", "status": None},
            {"id": "number-status", "status": 3},
            {"id": "empty-status", "status": {}},
            {"id": "empty-value", "status": {"value": ""}},
            {"id": "list-value", "status": {"value": ["loaded"]}},
            {"id": "ok", "status": {"value": "loaded"}, "aliases": "not-a-list"},
        ]
    }
    assert model_states(listing) == {"ok": ModelState.LOADED}


def test_a_listing_whose_statuses_are_all_junk_says_nothing() -> None:
    assert model_states({"data": [{"id": "m", "status": {"value": 1}}, {"id": "n", "status": []}]}) is None
    assert model_states({"data": [{"status": {"value": "loaded"}}]}) == {}  # a router's, with no usable name


@pytest.mark.parametrize(
    "listing",
    [None, 0, 1.5, "loaded", b"{}", {}, {"data": None}, {"data": {"id": "m"}}, {"data": "x"}, {"models": []}, []],
)
def test_junk_listings(listing: object) -> None:
    assert model_states(listing) is None
    assert loaded_models(listing) is None


KEYS = ["data", "id", "aliases", "status", "value", "failed", "loaded", "unloaded"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner),
    max_leaves=25,
)


@given(JSON)
def test_never_raises(listing: object) -> None:
    states = model_states(listing)
    assert states is None or all(isinstance(name, str) and name for name in states)
    assert states is None or all(isinstance(state, ModelState) for state in states.values())


@pytest.mark.engine
def test_the_live_router(router_engine: RouterEngine) -> None:
    """The real router's listing, as a model loads and as the other one takes its place."""
    router_engine.unload_all()
    # A connection per request: the router closes the connection after every answer it proxies.
    with httpx2.Client(timeout=60, limits=httpx2.Limits(max_keepalive_connections=0)) as client:

        def states() -> dict[str, ModelState] | None:
            return model_states(client.get(f"{router_engine.url}/models").json())

        def ask(model: str) -> None:
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
            assert client.post(f"{router_engine.url}/chat/completions", json=body).status_code == 200

        # Unloaded; or failed, when a test before this one killed a model's child.
        assert set(states() or {}) == {"tiny-a", "tiny-b"}
        assert set((states() or {}).values()) <= {ModelState.UNLOADED, ModelState.FAILED}
        ask("tiny-b")
        ask("tiny-a")
        assert states() == {"tiny-a": ModelState.LOADED, "tiny-b": ModelState.UNLOADED}
        ask("tiny-b")
        assert states() == {"tiny-a": ModelState.UNLOADED, "tiny-b": ModelState.LOADED}
        plain = client.get(f"{router_engine.base_url}/models").json()
    assert model_states(plain) == {"tiny-a": ModelState.UNLOADED, "tiny-b": ModelState.LOADED}
    assert loaded_models(plain) == frozenset({"tiny-b"})


@pytest.mark.engine
def test_a_live_single_model_server_says_nothing(real_engine: RealEngine) -> None:
    with httpx2.Client(timeout=30) as client:
        assert model_states(client.get(f"{real_engine.url}/models").json()) is None
