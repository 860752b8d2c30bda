"""Fixtures for the web tests: a real uvicorn server on 127.0.0.1, started and stopped by its handle.

``web_server(**settings)`` builds ``create_app`` over a fresh plugin host in the test's (clean)
environment, serves it from a uvicorn thread on a socket bound to a free loopback port, and
returns the ``WebServer`` handle; every server started is stopped (and its thread joined) at
teardown, whatever the test did. Set ``ULTRA_LLM_MOCK_*`` variables before the first request.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ultra_llm._host import PluginHost

uvicorn = pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")


class WebServer:
    """One uvicorn server in a thread, on a loopback socket it owns; ``stop()`` ends it."""

    def __init__(self, app: Any, host: PluginHost) -> None:
        self.app = app
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> WebServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the uvicorn test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError("the uvicorn test server did not stop")


@pytest.fixture
def web_host() -> PluginHost:
    """A fresh plugin host over the installed entry points (register test plugins on it)."""
    host = PluginHost()
    host.load()
    return host


@pytest.fixture
def web_server(web_host: PluginHost) -> Iterator[Callable[..., WebServer]]:
    """``web_server(console=True, **settings)`` -> a started ``WebServer``; all are stopped at teardown."""
    from ultra_llm.web import create_app
    from ultra_llm.web._settings import WebSettings

    started: list[WebServer] = []

    def start(*, console: bool = True, **settings: Any) -> WebServer:
        app = create_app(settings=WebSettings.load(**settings), host=web_host, console=console)
        server = WebServer(app, web_host)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        errors = []
        for server in reversed(started):
            try:
                server.stop()
            except RuntimeError as exc:
                errors.append(exc)
        assert not errors, errors
