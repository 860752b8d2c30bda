"""A request schema the mock cannot or should not walk: bounded work off the event loop, and the
caller's typed error (422 on the web API, exit 2 on the CLI), through ``ultra-llm serve`` and
``ultra-llm generate`` as real processes on 127.0.0.1.

Schemas past the mock's bounds (``$ref`` fan-out, ``minItems: 1e11``) are refused before the value
is built, while serve's other routes keep answering and SIGTERM ends it; malformed ones (a keyword
holding the wrong kind of value, NaN, a number too large for a float) are the caller's error, never
a ``PluginError``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ultra_llm.testing.serve import SCRIPT, free_port, wait_ready

httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("uvicorn")

WORKING = "Working out the answer for"
"""The mock's debug line when it starts an answer in its worker thread."""


def fan_out(levels: int, width: int) -> dict[str, Any]:
    """A schema of ``levels`` definitions each requiring ``width`` of the next: ``width**levels`` strings,
    nested 2 levels a definition (inside the mock's depth limit for 15)."""
    defs: dict[str, Any] = {f"L{levels}": {"type": "string"}}
    for level in range(levels):
        names = [f"p{index}" for index in range(width)]
        below = {"$ref": f"#/$defs/L{level + 1}"}
        defs[f"L{level}"] = {"type": "object", "properties": dict.fromkeys(names, below), "required": names}
    return {"$ref": "#/$defs/L0", "$defs": defs}


FAN_OUT = fan_out(15, 4)  # 4**15 (a billion) strings, in 3.5 KB
MANY_ITEMS = {"type": "array", "minItems": 1e11, "items": {"type": "integer"}}
LONG_STRING = {"type": "object", "properties": {"s": {"type": "string", "minLength": 1e11}}}
BIG_BUT_LEGAL = fan_out(15, 2)  # 65,535 values: inside the bounds, not quick

MALFORMED = {
    "enum-not-a-list": '{"enum": 5}',
    "properties-a-list": '{"properties": [{}]}',
    "nan-bound": '{"type": "number", "minimum": NaN}',
    "min-length-1e400": '{"type": "string", "minLength": 1e400}',
}
"""As a client sends them: JSON text (NaN and 1e400 as Python's json reads them)."""


class Served:
    """``ultra-llm --debug serve`` on a free 127.0.0.1 port, its stderr read line by line."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api"
        self.process = subprocess.Popen(
            [SCRIPT, "--debug", "serve", "--port", str(self.port), "--log-level", "warning"],
            env={**os.environ, "ULTRA_LLM_BACKEND": "mock"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for_line(self, text: str) -> None:
        """Return once stderr has a line holding ``text`` (fail after 60 s)."""
        while True:
            try:
                line = self.lines.get(timeout=60)
            except queue.Empty:
                raise AssertionError(f"serve never logged {text!r}") from None
            if text in line:
                return

    def post_in_background(self, body: dict[str, Any] | str) -> dict[str, Any]:
        """POST /generate from a thread; the answer lands in the returned dict under "answer"."""
        outcome: dict[str, Any] = {}

        def post() -> None:
            content = body if isinstance(body, str) else json.dumps(body)
            headers = {"content-type": "application/json"}
            try:
                outcome["answer"] = httpx2.post(f"{self.base}/generate", content=content, headers=headers, timeout=120)
            except httpx2.TransportError as error:  # the server stopped with the request open
                outcome["error"] = error

        outcome["thread"] = threading.Thread(target=post, daemon=True)
        outcome["thread"].start()
        return outcome

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served()
    try:
        assert wait_ready(server.process, f"{server.base}/models").status_code == 200
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("schema", "bound"),
    [(FAN_OUT, "100000 values"), (MANY_ITEMS, "100000 values"), (LONG_STRING, "1000000 characters")],
    ids=["ref-fan-out", "min-items-1e11", "min-length-1e11"],
)
def test_a_schema_past_the_mocks_bounds_is_a_422_naming_the_bound_while_other_routes_answer(
    served: Served, schema: dict[str, Any], bound: str
) -> None:
    walking = served.post_in_background({"prompt": "hi", "response_format": schema})
    served.wait_for_line(WORKING)
    other = httpx2.get(f"{served.base}/models", timeout=60)
    assert other.status_code == 200, "another route answers while the schema is worked on"
    walking["thread"].join(120)
    answer = walking["answer"]
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "InvalidOptionsError" and bound in body["message"], body
    assert "minItems" in body["fix"] and "real backend" in body["fix"]


def test_a_tool_whose_parameters_fan_out_is_a_422_too(served: Served) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": FAN_OUT}}
    answer = httpx2.post(f"{served.base}/generate", json={"prompt": "hi", "tools": [tool]}, timeout=120)
    assert answer.status_code == 422 and answer.json()["error"] == "InvalidOptionsError", answer.text


@pytest.mark.parametrize("schema", [MANY_ITEMS, BIG_BUT_LEGAL], ids=["min-items-1e11", "big-but-legal"])
def test_sigterm_ends_serve_while_a_schema_is_worked_on(served: Served, schema: dict[str, Any]) -> None:
    walking = served.post_in_background({"prompt": "hi", "response_format": schema})
    served.wait_for_line(WORKING)
    served.process.send_signal(signal.SIGTERM)
    try:
        served.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("serve ignored SIGTERM while the mock worked on a schema")
    walking["thread"].join(60)
    assert "answer" in walking or "error" in walking


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_schema_is_a_422_on_the_web_api(served: Served, body: str) -> None:
    for field in ("response_format", "tools"):
        tool = f'{{"type": "function", "function": {{"name": "f", "parameters": {body}}}}}'
        value = body if field == "response_format" else f"[{tool}]"
        answer = httpx2.post(
            f"{served.base}/generate",
            content=f'{{"prompt": "hi", "{field}": {value}}}',
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert answer.status_code == 422, answer.text
        error = answer.json()
        assert error["error"] == "InvalidOptionsError" and "malformed" in error["message"], error


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, "generate", "-b", "mock", *args],
        env={**os.environ, "ULTRA_LLM_BACKEND": "mock"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("schema", "bound"),
    [(FAN_OUT, "100000 values"), (MANY_ITEMS, "100000 values"), (LONG_STRING, "1000000 characters")],
    ids=["ref-fan-out", "min-items-1e11", "min-length-1e11"],
)
def test_a_schema_past_the_mocks_bounds_exits_2_on_the_cli(schema: dict[str, Any], bound: str) -> None:
    done = generate("--schema", json.dumps(schema), "hi")
    assert done.returncode == 2, done.stderr
    assert bound in done.stderr and "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize("schema", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_schema_exits_2_on_the_cli(schema: str) -> None:
    done = generate("--schema", schema, "hi")
    assert done.returncode == 2, done.stderr
    assert "malformed" in done.stderr and "Upgrade or uninstall" not in done.stderr and "Traceback" not in done.stderr
