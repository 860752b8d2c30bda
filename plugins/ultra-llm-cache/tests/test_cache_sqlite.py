"""The stores directly and the SQLite file across threads and processes; the plugin's light load."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ultra_llm_cache.store import MemoryStore, SQLiteStore, decode_value, encode_value

from ultra_llm import Chunk, Result, Usage
from ultra_llm.testing.clock import FakeClock

RESULT = Result("answer", "mock/echo", "mock", "stop", Usage(1, 2, 3), reasoning="thought")
CHUNKS = (
    Chunk("think", kind="reasoning"),
    Chunk("an"),
    Chunk("swer"),
    Chunk("", finish_reason="stop", usage=Usage(1, 2, 3)),
)


def test_values_round_trip_through_json() -> None:
    assert decode_value(encode_value(RESULT)) == RESULT
    assert decode_value(encode_value(CHUNKS)) == CHUNKS
    with pytest.raises(ValueError, match="unknown cached value"):
        decode_value(json.dumps({"type": "other"}))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_lru_eviction_and_ttl(tmp_path: Path, kind: str) -> None:
    clock = FakeClock()

    def make(max_entries: int, ttl: float | None = None) -> MemoryStore | SQLiteStore:
        if kind == "memory":
            return MemoryStore(max_entries, ttl, clock=clock)
        return SQLiteStore(tmp_path / f"{max_entries}-{ttl}.sqlite3", max_entries, ttl, clock=clock)

    store = make(2)
    store.put("a", "generate", RESULT)
    clock.advance(1)
    store.put("b", "stream", CHUNKS)
    clock.advance(1)
    assert store.get("a") == RESULT
    clock.advance(1)
    store.put("c", "generate", RESULT)
    assert store.get("b") is None, "b was the least recently used"
    assert store.get("a") == RESULT and store.get("c") == RESULT
    assert store.stats()["entries"] == 2
    assert store.clear() == 2 and store.get("a") is None
    store.close()

    short = make(10, ttl=60)
    short.put("k", "generate", RESULT)
    clock.advance(60)
    assert short.get("k") == RESULT, "exactly the TTL old: still fresh"
    assert short.stats()["entries"] == 1
    clock.advance(0.001)
    assert short.get("k") is None and short.stats()["entries"] == 0
    short.close()


def test_the_sqlite_file_is_created_on_first_use_not_before(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "cache.sqlite3"
    store = SQLiteStore(path)
    assert not path.exists()
    assert store.get("missing") is None
    assert path.exists()
    assert store.stats() | {"path": None} == {
        "entries": 0,
        "max_entries": 10_000,
        "ttl": None,
        "path": None,
        "hits": 0,
        "misses": 1,
    }
    store.close()


def test_a_damaged_entry_is_dropped_and_counted_as_a_miss(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.sqlite3")
    store.put("k", "generate", RESULT)
    with sqlite3.connect(tmp_path / "c.sqlite3") as db:
        db.execute('UPDATE entries SET value = \'{"type": "result"}\'')
    assert store.get("k") is None
    assert store.stats()["entries"] == 0 and store.stats()["misses"] == 1
    store.close()


def test_many_threads_share_one_file(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.sqlite3")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(50):
                key = f"k{i % 10}"
                if store.get(key) is None:
                    store.put(key, "generate", Result(f"v{i % 10}", "m", "b"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    figures = store.stats()
    assert figures["entries"] == 10 and figures["hits"] + figures["misses"] == 400
    assert all(store.get(f"k{i}") == Result(f"v{i}", "m", "b") for i in range(10))
    store.close()


WORKER = """
import sys
from ultra_llm_cache.store import SQLiteStore
from ultra_llm._types import Result
store = SQLiteStore(__import__("pathlib").Path(sys.argv[1]), timeout=30)
for i in range(100):
    key = f"k{i % 20}"
    value = store.get(key)
    if value is None:
        store.put(key, "generate", Result(f"v{i % 20}", "m", "b"))
    else:
        assert value == Result(f"v{i % 20}", "m", "b"), value
print("ok")
"""


def test_several_processes_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * 4, outputs
    store = SQLiteStore(path)
    figures = store.stats()
    assert figures["entries"] == 20
    assert figures["hits"] + figures["misses"] == 400, "every lookup of every process is counted in the file"
    assert figures["misses"] >= 20
    store.close()


def test_a_cached_answer_survives_the_process(tmp_path: Path) -> None:
    code = (
        "from ultra_llm import create_adapter_sync\n"
        "import ultra_llm_cache, json\n"
        "with create_adapter_sync('mock/echo', backend='mock') as a:\n"
        "    text = a.generate('kept across runs', temperature=0)\n"
        "print(json.dumps([text, ultra_llm_cache.stats()['process']]))\n"
    )
    env = {**os.environ, "ULTRA_LLM_CACHE": "sqlite", "ULTRA_LLM_CACHE_PATH": str(tmp_path / "c.sqlite3")}
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60
            ).stdout.splitlines()[-1]
        )
        for _ in range(2)
    ]
    assert runs[0][0] == runs[1][0] == "kept across runs"
    assert (runs[0][1]["misses"], runs[0][1]["hits"]) == (1, 0)
    assert (runs[1][1]["misses"], runs[1][1]["hits"]) == (0, 1)


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, json\nfrom ultra_llm._host import PluginHost\n"
        "h = PluginHost(); h.backends(); assert h.records['cache'].status == 'loaded'\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {**os.environ, "ULTRA_LLM_CACHE": "sqlite"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60, env=env)
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    heavy = {"sqlite3", "_sqlite3", "pydantic", "pydantic_settings", "asyncio", "hashlib", "ultra_llm_cache.runtime"}
    assert not loaded & heavy, loaded & heavy
    assert "ultra_llm_cache.plugin" in loaded
