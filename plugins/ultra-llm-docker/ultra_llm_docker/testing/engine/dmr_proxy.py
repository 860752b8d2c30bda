"""A thin loopback proxy giving a real llama.cpp server Docker Model Runner's HTTP layout.

Inference stays real: ``/engines/v1/*``, ``/engines/llama.cpp/v1/*`` and the ``/v1/*`` alias are
relayed to the engine's ``/v1/*`` byte for byte as they arrive (chunked SSE is never buffered).
What the runner itself answers, the proxy answers from its own model state, in the runner's shapes
(read from docker/model-runner's ``pkg/inference/models/http_handler.go`` and
``pkg/inference/scheduling/http_handler.go``):

- ``GET /`` -> ``Docker Model Runner is running``; ``GET /version`` -> ``{"version": ...}``.
- ``GET /models`` -> the JSON array of ``docker model list --json``; ``GET /models/{name}`` one model
  (partial names match), 404 ``model not found``.
- ``GET /engines/v1/models`` (and per engine) -> the OpenAI list shape, from the proxy's state.
- ``POST /models/create`` ``{"from": NAME}`` -> 200 and newline-delimited JSON progress records
  (``progress`` ... ``success``, or an ``error`` record under 200), text/plain with HTML-escaped JSON
  unless ``Accept`` is exactly ``application/json``; before streaming 400 ``Invalid model reference``
  or 404 ``Model not found``.
- ``DELETE /models/{name}`` -> ``[{"Untagged": ...}, {"Deleted": ...}]``, 404 when unknown.
- Model lifecycle (``pkg/inference/scheduling``): ``GET /engines/ps``, ``GET /engines/df``,
  ``POST /engines/unload``, ``POST /engines[/{backend}]/_configure``, ``GET /engines/_configure`` and the
  ``X-Preload-Only: true`` header, from the proxy's own state (see ``_lifecycle``; each rule cited there).
- Errors are the runner's plain text with a trailing newline (Go's ``http.Error``): 400
  ``model is required`` / ``invalid request``, 404 ``model not found`` for inference on a model that
  is not local, 404 ``backend not found``, 503 ``service unavailable`` when the engine is down.

The runner's memory (``loader.go`` at 642c7211, see ``_acquire``): a load takes ``load_time`` seconds,
during which ``GET /engines/ps`` lists the model with ``loading: true`` and its requests wait; at most
``slots`` models are resident (``None``: no limit; the runner's own count, ``min(CPUs, 8)``, is reported
by no route); a load that finds the slots full evicts every idle model (``evict(false)``), and waits
while every resident model serves a request. Both default to the old instant, unlimited runner.

Tests can queue canned failures (``inject``) and read ``requests`` (method, path) afterwards, and the
load counters ``loads``, ``load_counts`` (per model tag) and ``evictions``.
Runs on its own event loop in a daemon thread (``start``/``stop``), or as a script:
``python -m ultra_llm_docker.testing.engine.dmr_proxy --engine http://127.0.0.1:PORT --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["DMRProxy", "PullSource", "normalize"]

MAX_REQUEST_BODY = 10 * 1024 * 1024
_HEAD_LIMIT = 64 * 1024
_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_GO_HTML_ESCAPES = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;"})


def normalize(name: str) -> str:
    """Docker's reading of a model reference: ``tiny`` -> ``ai/tiny:latest``, registry host dropped."""
    name = name.strip()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if "/" not in name:
        name = f"ai/{name}"
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        name = f"{name}:latest"
    return name


def _valid_reference(name: str) -> bool:
    if not name or any(c.isspace() for c in name) or name.count(":") > 2:
        return False
    repo = normalize(name).rsplit(":", 1)[0]
    return repo == repo.lower() and not repo.startswith("/") and "//" not in repo


@dataclass
class PullSource:
    """A model the proxy's pretend registry can pull: its layer sizes, and whether the pull fails."""

    size: int = 3 * 1024 * 1024
    layers: int = 2
    fail_after: int | None = None
    """When set, an ``error`` record (status 200) follows this many progress records."""
    engine: str = "chat"
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class _LocalModel:
    tags: list[str]
    id: str
    created: int
    engine: str
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "tags": list(self.tags), "created": self.created, "config": dict(self.config)}


@dataclass
class _Runner:
    """A loaded model (``loader.runners``): its engine, mode, last use and requests in flight
    (``in_use``: the slot's reference count, ``loader.references``)."""

    engine: str
    mode: str
    last_used: float
    in_use: int = 0


@dataclass
class _Loading:
    """A slot reserved for a model being loaded (``loader.loading``, loader.go:83-90,121-126)."""

    mode: str
    started: float


@dataclass
class _Request:
    method: str
    target: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class _BadRequest(Exception):
    pass


def _go_keep_alive(value: object) -> bool:
    """Whether ``ParseKeepAlive`` takes ``value`` (inference/backend.go:236-256): a JSON string ``0``,
    ``-1`` or a Go duration."""
    import re

    if not isinstance(value, str):
        return False
    body = value.lstrip("+-")
    unit = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h)"
    return value in ("0", "-1") or re.fullmatch(f"(?:{unit})+", body) is not None


def _go_duration_string(value: str) -> str:
    """A keep-alive as the runner sends it back: ``-1`` for any negative, else Go's ``Duration.String``
    (``5m0s``, ``1h30m0s``, ``0s``) (``KeepAlive.MarshalJSON``, inference/backend.go:216-221)."""
    import re

    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    seconds = sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)(ns|us|µs|μs|ms|s|m|h)", value))
    if value.startswith("-"):
        return "-1"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _model_id(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


class DMRProxy:
    """Docker Model Runner's layout in front of one chat engine (and optionally an embedding one).

    ``engine_url`` and ``embedding_url`` are engine roots (``http://127.0.0.1:PORT``, no ``/v1``).
    ``engine_model`` is the alias the engine serves; requests for any local model are rewritten to
    it. Thread-safe enough for tests: state is only touched on the proxy's own loop, and the public
    mutators (``inject``, ``add_local``) hand work to that loop.

    ``slots`` (None: no limit) caps the models resident or loading at once; ``load_time`` is how long
    each load takes, in seconds. The counters ``loads``, ``load_counts`` and ``evictions`` say what the
    runner's memory did (see ``_acquire`` for the rules and their sources).
    """

    def __init__(
        self,
        engine_url: str,
        *,
        engine_model: str = "ai/tiny",
        embedding_url: str | None = None,
        embedding_model: str | None = None,
        pull_sources: dict[str, PullSource] | None = None,
        pull_delay: float = 0.005,
        version: str = "v1.2.6-proxy",
        slots: int | None = None,
        load_time: float = 0.0,
    ) -> None:
        if slots is not None and slots < 1:
            raise ValueError(f"slots must be at least 1 (or None for no limit), not {slots}")
        if load_time < 0:
            raise ValueError(f"load_time must not be negative, not {load_time}")
        self.engine_url = engine_url.rstrip("/")
        self.engine_model = engine_model
        self.embedding_url = (embedding_url or engine_url).rstrip("/")
        self.embedding_model = embedding_model or engine_model
        self.pull_delay = pull_delay
        self.version = version
        self.pull_sources: dict[str, PullSource] = {
            normalize(engine_model): PullSource(size=512 * 1024, layers=1),
            "ai/smollm2:latest": PullSource(),
            "ai/broken:latest": PullSource(fail_after=2),
        }
        self.pull_sources.update({normalize(k): v for k, v in (pull_sources or {}).items()})
        self.local: dict[str, _LocalModel] = {}
        self.loaded: dict[str, _Runner] = {}
        """Runners by model tag: what ``GET /engines/ps`` shows."""
        self.loading: dict[str, _Loading] = {}
        """Models being loaded, by tag: each holds a slot; ``/engines/ps`` shows them ``loading``."""
        self.configs: dict[str, dict[str, Any]] = {}
        """Runner configurations by model tag (``loader.runnerConfigs``), as ``_configure`` sent them."""
        self.slots = slots
        """How many models may be resident or loading at once (``len(loader.slots)``); None: no limit."""
        self.load_time = load_time
        """Seconds each load takes (the runner's ``run`` + ``wait``, loader.go:619-635)."""
        self.loads = 0
        """Loads completed (a request that finds its model resident loads nothing)."""
        self.load_counts: dict[str, int] = {}
        """Loads completed, by model tag."""
        self.evictions = 0
        """Idle runners evicted to make room for a load (``evict(false)`` in ``loader.load``); unloads and
        ``_configure``'s eviction of the model it reconfigures are not counted."""
        self._waiters: set[asyncio.Event] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.engine_disk_usage = 48_000_000
        self.requests: list[tuple[str, str]] = []
        self._injected: deque[tuple[int, str, dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.port: int | None = None
        self.add_local(engine_model, engine="chat", config=self._gguf_config(520_000))
        if embedding_url is not None and normalize(self.embedding_model) != normalize(engine_model):
            self.add_local(self.embedding_model, engine="embed", config=self._gguf_config(520_000))

    # -- state -------------------------------------------------------------------------------

    @staticmethod
    def _gguf_config(size: int) -> dict[str, Any]:
        return {
            "format": "gguf",
            "quantization": "F32",
            "parameters": "131.30 K",
            "architecture": "llama",
            "size": f"{size / 1024 / 1024:.2f} MiB",
            "context_size": 2048,
            "gguf": {"general.architecture": "llama"},
        }

    def add_local(self, name: str, *, engine: str = "chat", config: dict[str, Any] | None = None) -> None:
        """Make ``name`` a local model (served by the chat or embedding engine)."""
        tag = normalize(name)
        with self._lock:
            self.local[tag] = _LocalModel(
                tags=[tag],
                id=_model_id(tag),
                created=int(time.time()) - 3600,
                engine=engine,
                config=config if config is not None else self._gguf_config(3 * 1024 * 1024),
            )

    def inject(self, status: int, body: str, *, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` inference requests with ``status`` and plain-text ``body``."""
        with self._lock:
            for _ in range(times):
                self._injected.append((status, body, dict(headers or {})))

    def _find_local(self, name: str) -> _LocalModel | None:
        with self._lock:
            found = self.local.get(normalize(name))
            if found is not None:
                return found
            # DMR's partial match: "smollm2" for "ai/smollm2:latest", by the name part alone.
            for model in self.local.values():
                for tag in model.tags:
                    if tag.rsplit(":", 1)[0].rsplit("/", 1)[-1] == name:
                        return model
            return None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The runner-style base URL, ``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise RuntimeError("the proxy is not started")
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, port: int = 0) -> asyncio.Server:
        """Start listening on 127.0.0.1 (on the running loop) and return the server."""
        server = await asyncio.start_server(self._handle_connection, "127.0.0.1", port, limit=_HEAD_LIMIT)
        self._server = server
        if self._loop is None:  # served in the foreground (``main``): waits need the loop too
            self._loop = asyncio.get_running_loop()
        self.port = int(server.sockets[0].getsockname()[1])
        return server

    def start(self, port: int = 0) -> DMRProxy:
        """Run the proxy on its own event loop in a daemon thread; return once it listens."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.serve(port))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="dmr-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise RuntimeError(f"the DMR proxy failed to start: {failure[0]!r}")
        return self

    def stop(self) -> None:
        """Stop listening, cancel open connections, end the thread and wait for it."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                for client in list(self._clients):
                    client.close()
                await self._server.wait_closed()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        if loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(10)
        self._loop = self._thread = None

    # -- HTTP plumbing ----------------------------------------------------------------------

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                try:
                    request = await self._read_request(reader)
                except _BadRequest as exc:
                    await self._plain(writer, 400, str(exc), keep_alive=False)
                    break
                if request is None:
                    break
                self.requests.append((request.method, request.path))
                keep = await self._dispatch(request, writer)
                if not (keep and request.keep_alive):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as exc:
            raise _BadRequest("request header too large") from exc
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError as exc:
            raise _BadRequest("malformed request line") from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            total = 0
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b""):
                        pass
                    break
                total += size
                if total > MAX_REQUEST_BODY:
                    raise _BadRequest("request too large")
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length > MAX_REQUEST_BODY:
                raise _BadRequest("request too large")
            body = await reader.readexactly(length)
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version.strip() == "HTTP/1.1" or connection == "keep-alive")
        return _Request(method.upper(), target, unquote(urlsplit(target).path), headers, body, keep_alive)

    @staticmethod
    async def _respond(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str,
        *,
        keep_alive: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        head = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def _plain(self, writer: asyncio.StreamWriter, status: int, text: str, **kw: Any) -> None:
        """Go's ``http.Error``: the text, a newline, ``text/plain; charset=utf-8``."""
        headers = {"X-Content-Type-Options": "nosniff", **kw.pop("headers", {})}
        await self._respond(writer, status, (text + "\n").encode(), "text/plain; charset=utf-8", headers=headers, **kw)

    async def _json(self, writer: asyncio.StreamWriter, value: Any, status: int = 200) -> None:
        # Go's json.Encoder writes one line with a trailing newline.
        await self._respond(writer, status, (json.dumps(value) + "\n").encode(), "application/json")

    # -- routing ----------------------------------------------------------------------------

    async def _dispatch(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; return False when the connection must close afterwards."""
        method, path = request.method, request.path
        if path == "/" and method == "GET":
            await self._respond(writer, 200, b"Docker Model Runner is running", "text/plain; charset=utf-8")
        elif path == "/version" and method == "GET":
            await self._json(writer, {"version": self.version})
        elif path == "/models" and method == "GET":
            with self._lock:
                listing = [m.to_json() for m in self.local.values()]
            await self._json(writer, listing)
        elif path == "/models/create" and method == "POST":
            return await self._pull(request, writer)
        elif path.startswith("/models/") and method == "GET":
            model = self._find_local(path[len("/models/") :])
            if model is None:
                await self._plain(writer, 404, "model not found")
            else:
                await self._json(writer, model.to_json())
        elif path.startswith("/models/") and method == "DELETE":
            await self._delete(path[len("/models/") :], writer)
        elif path in ("/engines/ps", "/engines/df", "/engines/unload") or path.endswith("/_configure"):
            await self._lifecycle(request, writer)
        else:
            engine_path = self._engine_path(path)
            if engine_path is None:
                await self._plain(writer, 404, "not found")
            elif engine_path == "":
                await self._plain(writer, 404, "backend not found")
            elif engine_path == "/v1/models" and method == "GET":
                with self._lock:
                    data = [
                        {"id": tag, "object": "model", "created": m.created, "owned_by": "docker"}
                        for m in self.local.values()
                        for tag in m.tags
                    ]
                await self._json(writer, {"object": "list", "data": data})
            elif method != "POST":
                await self._plain(writer, 405, "method not allowed")
            else:
                return await self._inference(request, engine_path, writer)
        return True

    # -- model lifecycle (docker/model-runner pkg/inference/scheduling at 642c7211) ---------------

    # The runner's memory, read from loader.go at 642c72117b2431a6b871796883af1aaf013fc3cf. Models are
    # keyed by tag here; the runner keys by (backend, model ID, draft model, mode) (loader.go:39-73).

    @property
    def waiting(self) -> int:
        """Requests inside ``loader.load`` now: waiting for a free slot or for a load under way (theirs
        or another request's for the same model)."""
        return len(self._waiters)

    def _used(self) -> int:
        """Slots held by resident runners or by loads under way (``usedSlots``, loader.go:449-453)."""
        return len(self.loaded) + len(self.loading)

    def _evict_unused(self) -> int:
        """``evict(false)`` (loader.go:232-265): every runner serving no request goes, however recently it
        was used and even with ``keep_alive`` -1 (with ``idleOnly`` false the idle and never-evict tests
        drop out of the condition at loader.go:251); busy ones stay. Returns how many remain. Lock held."""
        for tag in [tag for tag, runner in self.loaded.items() if not runner.in_use]:
            del self.loaded[tag]
            self.evictions += 1
        return len(self.loaded)

    def _step(self, tag: str, mode: str) -> _Runner | _Loading | None:
        """One pass of ``loader.load``'s loop (loader.go:546-647) under the lock: the resident runner,
        taken (``references++``, loader.go:560-577); or a reserved slot, the caller to load into it
        (loader.go:605-617); or None, to wait for a change (loader.go:649-660)."""
        with self._lock:
            while True:
                if tag in self.loading:  # another request loads it: wait for that (loader.go:554-558)
                    return None
                runner = self.loaded.get(tag)
                if runner is not None:
                    runner.in_use += 1
                    return runner
                if self.slots is not None and self._used() >= self.slots:
                    # Full (loading reservations included): evict every unused runner, and start over
                    # if any went (loader.go:580-589).
                    before = len(self.loaded)
                    if self._evict_unused() < before:
                        continue
                if self.slots is None or self._used() < self.slots:  # a free slot (loader.go:591-599)
                    pending = self.loading[tag] = _Loading(mode, time.time())
                    return pending
                return None  # "Cannot load model yet" (loader.go:601-603): every resident model is busy

    async def _acquire(self, tag: str, mode: str) -> _Runner:
        """``loader.load`` (loader.go:476-662): the model's runner with this request counted on it,
        loading it first if it is not resident. Waits, with no deadline of its own, for a change
        whenever it cannot proceed: its poll channel (a buffered one, registered in ``waiters``) is
        signalled by ``broadcast`` when a runner is released (loader.go:698-699) or a load ends
        (loader.go:624,633,645); every waiter wakes and they race for the slot, in no set order.
        In the runner only the request's context ends the wait (loader.go:654-657): the client went
        away, or the one-minute budget of ``_configure``'s preload ran out. This double does not
        notice a client that goes away until it writes the answer; ``stop`` ends every wait."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            while True:
                got = self._step(tag, mode)
                if isinstance(got, _Runner):
                    return got
                if got is not None:
                    return await self._finish_load(tag, got)
                await waiter.wait()
                waiter.clear()  # a signal sent from now on is kept, like the runner's size-1 channel
        finally:
            self._waiters.discard(waiter)

    async def _finish_load(self, tag: str, pending: _Loading) -> _Runner:
        """Start the runner in the reserved slot, the lock released meanwhile (loader.go:605-647): takes
        ``load_time``; a cancelled load frees its slot (loader.go:628-635). The new runner is registered
        with one reference, the loading request's (loader.go:637-646), and waiters are woken."""
        try:
            if self.load_time > 0:
                await asyncio.sleep(self.load_time)
        except BaseException:
            with self._lock:
                self.loading.pop(tag, None)
            self._broadcast()
            raise
        return self._register(tag, pending)

    def _register(self, tag: str, pending: _Loading) -> _Runner:
        """The loaded runner takes its slot with one reference; the load is counted; waiters wake."""
        with self._lock:
            self.loading.pop(tag, None)
            runner = self.loaded[tag] = _Runner("llama.cpp", pending.mode, time.time(), in_use=1)
            self.loads += 1
            self.load_counts[tag] = self.load_counts.get(tag, 0) + 1
        self._broadcast()
        return runner

    def _release(self, runner: _Runner) -> None:
        """``loader.release`` (loader.go:664-700): one reference less; at zero the idle time starts;
        waiters are always signalled."""
        with self._lock:
            runner.in_use = max(0, runner.in_use - 1)
            if not runner.in_use:
                runner.last_used = time.time()
        self._broadcast()

    def _broadcast(self) -> None:
        """Signal every waiting load (``broadcast``, loader.go:202-210), from any thread."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            for waiter in self._waiters:
                waiter.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(self._broadcast)

    def _start_preload(self, tag: str) -> None:
        """``_configure``'s background preload (http_handler.go:488-518): a preload-only request. When it
        needs no waiting (resident, or ``load_time`` 0 and a slot free) it is done before this returns,
        so the 202 is only sent after it; otherwise a task finishes it."""
        got = self._step(tag, "completion")
        if isinstance(got, _Loading) and self.load_time <= 0:
            got = self._register(tag, got)
        if isinstance(got, _Runner):
            self._release(got)
            return
        task = asyncio.create_task(self._preload(tag, got))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _preload(self, tag: str, pending: _Loading | None) -> None:
        """The rest of a preload, within its one-minute budget (http_handler.go:497); when that runs
        out it gives up quietly (a log line in the runner), a load under way freeing its slot."""

        async def load() -> None:
            if pending is not None:
                runner = await self._finish_load(tag, pending)
            else:
                runner = await self._acquire(tag, "completion")
            self._release(runner)

        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(load(), 60)

    def hold(self, name: str, busy: bool = True, *, timeout: float = 60.0) -> None:
        """Count one request in flight on ``name`` (``busy``), loading it first as a request would
        (waiting for a load or a free slot, up to ``timeout`` seconds), or end that request
        (``busy=False``; nothing for a model that is not resident): what another client's long
        generation does to the runner, which tests cannot time reliably. Call from a test's thread."""
        tag = normalize(name)
        if not busy:
            with self._lock:
                runner = self.loaded.get(tag)
            if runner is not None:
                self._release(runner)
            return
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("the proxy is not started")
        future = asyncio.run_coroutine_threadsafe(self._acquire(tag, "completion"), loop)
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def _status(self, tag: str, runner: _Runner) -> dict[str, Any]:
        """``BackendStatus`` (``scheduling/api.go:71-86``) as ``getLoaderStatus`` fills it
        (``scheduler.go:243-285``): ``last_used`` the zero time while in use (a struct: ``omitempty``
        keeps it), ``keep_alive`` from the model's current config; false and nil fields dropped."""
        used = "0001-01-01T00:00:00Z"
        if not runner.in_use:
            used = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(runner.last_used))
            used += f".{int(runner.last_used % 1 * 1e9):09d}Z"
        entry: dict[str, Any] = {
            "backend_name": runner.engine,
            "model_name": tag,
            "mode": runner.mode,
            "last_used": used,
        }
        if runner.in_use:
            entry["in_use"] = True
        keep = self.configs.get(tag, {}).get("keep_alive")
        if keep is not None:
            entry["keep_alive"] = _go_duration_string(keep)
        return entry

    @staticmethod
    def _loading_status(tag: str, pending: _Loading) -> dict[str, Any]:
        """A model being loaded, as ``getLoaderStatus`` adds it after the runners (scheduler.go:274-282):
        backend, model, mode and ``loading: true`` only; ``last_used`` the zero time (a struct, kept),
        ``in_use`` false and ``keep_alive`` nil (both dropped)."""
        return {
            "backend_name": "llama.cpp",
            "model_name": tag,
            "mode": pending.mode,
            "last_used": "0001-01-01T00:00:00Z",
            "loading": True,
        }

    async def _lifecycle(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        method, path = request.method, request.path
        if path == "/engines/ps" and method == "GET":  # http_handler.go:120,322-331
            with self._lock:
                rows = [self._status(tag, r) for tag, r in self.loaded.items()]
                rows += [self._loading_status(tag, pending) for tag, pending in self.loading.items()]
            await self._json(writer, rows)
        elif path == "/engines/df" and method == "GET":  # http_handler.go:121,333-354, api.go:88-92
            with self._lock:
                models = sum(
                    int(float(m.config.get("size", "0").split()[0]) * 1024 * 1024) for m in self.local.values()
                )
            await self._json(
                writer, {"models_disk_usage": models, "default_backend_disk_usage": self.engine_disk_usage}
            )
        elif path == "/engines/unload" and method == "POST":
            await self._unload(request, writer)
        elif path.endswith("/_configure") and method == "POST":
            await self._configure(request, writer)
        elif path == "/engines/_configure" and method == "GET":  # http_handler.go:125,523-546
            query = urlsplit(request.target).query
            wanted = dict(part.partition("=")[::2] for part in query.split("&") if part).get("model")
            with self._lock:
                entries = [
                    {"Backend": "llama.cpp", "Model": tag, "ModelID": _model_id(tag), "Mode": "completion", "Config": c}
                    for tag, c in self.configs.items()
                    if wanted is None or tag == normalize(unquote(wanted))
                ]
            await self._json(writer, entries)
        else:
            await self._plain(writer, 405 if path.startswith("/engines/") else 404, "method not allowed")

    async def _unload(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        """``Unload`` (http_handler.go:356-376, loader.go:306-330): runners serving a request stay
        (``evictRunner`` frees only unused ones, loader.go:269-284); configs go with ``all``, or for the
        named models only when ``backend`` names their engine (loader.go:315-19: an empty one matches none)."""
        try:
            body = json.loads(request.body or b"null")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            await self._plain(writer, 400, "invalid request")
            return
        with self._lock:
            before = len(self.loaded)
            if body.get("all"):
                self.configs.clear()
                doomed = [tag for tag, r in self.loaded.items() if not r.in_use]
            else:
                names = [normalize(str(n)) for n in body.get("models") or []]
                for tag in names:
                    if body.get("backend") == "llama.cpp":
                        self.configs.pop(tag, None)
                doomed = [tag for tag in names if tag in self.loaded and not self.loaded[tag].in_use]
            for tag in doomed:
                self.loaded.pop(tag, None)
            count = before - len(self.loaded)
        await self._json(writer, {"unloaded_runners": count})

    async def _configure(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        """``Configure`` (http_handler.go:450-521): 404 ``backend not found`` for an unknown engine, 400
        ``invalid request`` for a body that does not decode (a bad ``keep_alive``: backend.go:223-256),
        409 ``runner already active`` when the model's runner is still there after evicting idle ones,
        i.e. it serves a request (loader.go:722-732); an unchanged config is a no-op (loader.go:709-713).
        Then 202, and the model is preloaded in the background (http_handler.go:488-520): loaded again
        (at once when ``load_time`` is 0 and a slot is free, before the next request is read)."""
        engine = request.path[len("/engines/") : -len("/_configure")].strip("/")
        if engine not in ("", "llama.cpp"):
            await self._plain(writer, 404, "backend not found")
            return
        try:
            body = json.loads(request.body or b"null")
            if not isinstance(body, dict) or not isinstance(body.get("model", ""), str):
                raise ValueError
            size = body.get("context-size")
            if size is not None and (isinstance(size, bool) or not isinstance(size, int) or abs(size) >= 2**31):
                raise ValueError  # an int32 (inference/backend.go:260)
            keep = body.get("keep_alive")
            if keep is not None and not _go_keep_alive(keep):
                raise ValueError
            llamacpp = body.get("llamacpp")  # LlamaCppConfig{reasoning-budget *int32} (inference/backend.go)
            if llamacpp is not None and (
                not isinstance(llamacpp, dict) or not isinstance(llamacpp.get("reasoning-budget", 0), int)
            ):
                raise ValueError
        except ValueError:
            await self._plain(writer, 400, "invalid request")
            return
        tag = normalize(body.get("model") or "")
        config = {k: v for k, v in body.items() if k not in ("model", "mode", "raw-runtime-flags")}
        with self._lock:
            conflict = False
            if self.configs.get(tag) != config:
                current = self.loaded.get(tag)
                if current is not None and not current.in_use:
                    del self.loaded[tag]  # evictRunner: an idle runner goes (loader.go:724-726)
                conflict = tag in self.loaded
                if not conflict:
                    self.configs[tag] = config
        if conflict:
            await self._plain(writer, 409, "runner already active")
            return
        if self._find_local(tag) is not None:  # the background preload (fails quietly for no model)
            self._start_preload(tag)
        await self._respond(writer, 202, b"", "text/plain; charset=utf-8")

    @staticmethod
    def _engine_path(path: str) -> str | None:
        """``/engines/v1/x`` or ``/engines/llama.cpp/v1/x`` or ``/v1/x`` -> ``/v1/x``; ``""`` = unknown engine."""
        if path.startswith("/v1/"):
            return path
        if not path.startswith("/engines/"):
            return None
        rest = path[len("/engines") :]
        if rest.startswith("/v1/"):
            return rest
        engine, _, tail = rest[1:].partition("/")
        if not tail.startswith("v1/"):
            return None
        return "/" + tail if engine == "llama.cpp" else ""

    async def _delete(self, name: str, writer: asyncio.StreamWriter) -> None:
        model = self._find_local(name)
        if model is None:
            await self._plain(writer, 404, "error while deleting model: model not found")
            return
        with self._lock:
            for tag in model.tags:
                self.local.pop(tag, None)
        actions: list[dict[str, str]] = [{"Untagged": tag} for tag in model.tags]
        actions.append({"Deleted": model.id})
        await self._json(writer, actions)

    async def _pull(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        try:
            payload = json.loads(request.body or b"null")
            name = payload["from"]
            if not isinstance(name, str):
                raise TypeError(name)
        except (ValueError, KeyError, TypeError):
            await self._plain(writer, 400, "invalid request body")
            return True
        if not _valid_reference(name):
            await self._plain(writer, 400, "Invalid model reference")
            return True
        tag = normalize(name)
        source = self.pull_sources.get(tag)
        if source is None:
            await self._plain(writer, 404, "Model not found")
            return True
        is_json = request.headers.get("accept", "") == "application/json"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: "
            + (b"application/json" if is_json else b"text/plain")
            + b"\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        )

        async def send(record: dict[str, Any]) -> None:
            line = json.dumps(record, separators=(",", ":")) + "\n"
            data = (line if is_json else line.translate(_GO_HTML_ESCAPES)).encode()
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
            if self.pull_delay:
                await asyncio.sleep(self.pull_delay)

        if self._find_local(tag) is not None:
            size = source.size / 1024 / 1024
            await send(
                {
                    "type": "success",
                    "message": f"Using cached model: {size:.2f} MB",
                    "total": 0,
                    "layer": {"size": 0, "current": 0},
                    "mode": "pull",
                }
            )
        else:
            sent = 0
            failed = False
            layer_size = source.size // source.layers
            step = max(1, layer_size // 4)
            for index in range(source.layers):
                layer_id = _model_id(f"{tag}/layer{index}")
                current = 0
                while current < layer_size:
                    if source.fail_after is not None and sent >= source.fail_after:
                        failed = True
                        break
                    current = min(layer_size, current + step)
                    await send(
                        {
                            "type": "progress",
                            "message": f"Downloaded: {current / 1024 / 1024:.2f} MB",
                            "total": source.size,
                            "layer": {"id": layer_id, "size": layer_size, "current": current},
                            "mode": "pull",
                        }
                    )
                    sent += 1
                if failed:
                    break
            if failed:
                await send(
                    {
                        "type": "error",
                        "message": f"Error: pulling {tag}: unexpected EOF",
                        "total": 0,
                        "layer": {"size": 0, "current": 0},
                        "mode": "pull",
                    }
                )
            else:
                self.add_local(tag, engine=source.engine, config=source.config or self._gguf_config(source.size))
                await send(
                    {
                        "type": "success",
                        "message": "Model pulled successfully",
                        "total": 0,
                        "layer": {"size": 0, "current": 0},
                        "mode": "pull",
                    }
                )
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _inference(self, request: _Request, engine_path: str, writer: asyncio.StreamWriter) -> bool:
        if len(request.body) > MAX_REQUEST_BODY:
            await self._plain(writer, 400, "request too large")
            return True
        try:
            payload = json.loads(request.body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            await self._plain(writer, 400, "invalid request")
            return True
        model_name = payload.get("model")
        if not model_name or not isinstance(model_name, str):
            await self._plain(writer, 400, "model is required")
            return True
        model = self._find_local(model_name)
        if model is None:
            await self._plain(writer, 404, "model not found")
            return True
        with self._lock:
            injected = self._injected.popleft() if self._injected else None
        if injected is not None:
            status, text, headers = injected
            await self._plain(writer, status, text, headers=headers)
            return True
        embed = engine_path.endswith("/embeddings")
        tag = model.tags[0]
        # loader.load, waiting for the load or a slot, ... defer loader.release (http_handler.go:263-269)
        runner = await self._acquire(tag, "embedding" if embed else "completion")
        try:
            if request.headers.get("x-preload-only") == "true":  # http_handler.go:271-275: loaded, 200, no body
                await self._respond(writer, 200, b"", "text/plain; charset=utf-8")
                return True
            upstream_root = self.embedding_url if embed else self.engine_url
            payload["model"] = self.embedding_model if embed else self.engine_model
            return await self._relay(request, upstream_root, engine_path, json.dumps(payload).encode(), writer)
        finally:
            self._release(runner)

    async def _relay(self, request: _Request, root: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        """Send the request to the engine and copy its response to the client piece by piece."""
        parts = urlsplit(root)
        try:
            up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port, limit=_HEAD_LIMIT)
        except OSError:
            await self._plain(writer, 503, "service unavailable")
            return True
        try:
            query = urlsplit(request.target).query
            head = [
                f"{request.method} {path}{'?' + query if query else ''} HTTP/1.1",
                f"Host: {parts.hostname}:{parts.port}",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                "Connection: close",
            ]
            if "accept" in request.headers:
                head.append(f"Accept: {request.headers['accept']}")
            up_writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await up_writer.drain()
            try:
                response_head = await up_reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                await self._plain(writer, 503, "service unavailable")
                return True
            lines = response_head.decode("latin-1").split("\r\n")
            headers = {}
            kept = [lines[0]]
            for line in lines[1:]:
                if not line:
                    continue
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
                if key.strip().lower() != "connection":
                    kept.append(line)
            kept.append("Connection: keep-alive")
            writer.write(("\r\n".join(kept) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size_line = await up_reader.readline()
                    if not size_line:
                        return False  # engine dropped mid-stream: drop the client too
                    writer.write(size_line)
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while True:
                            trailer = await up_reader.readline()
                            writer.write(trailer or b"\r\n")
                            if trailer in (b"\r\n", b""):
                                break
                        await writer.drain()
                        return True
                    writer.write(await up_reader.readexactly(size + 2))
                    await writer.drain()
            elif "content-length" in headers:
                remaining = int(headers["content-length"])
                while remaining:
                    data = await up_reader.read(min(remaining, 65536))
                    if not data:
                        return False
                    remaining -= len(data)
                    writer.write(data)
                    await writer.drain()
                return True
            else:
                while data := await up_reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                return False
        except asyncio.IncompleteReadError:
            return False
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()


def main() -> None:
    """Run the proxy in the foreground (for benchmarks and manual checks)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True, help="engine root, e.g. http://127.0.0.1:8000")
    parser.add_argument("--embedding-engine", default=None)
    parser.add_argument("--model", default="ai/tiny")
    parser.add_argument("--port", type=int, default=12434)
    parser.add_argument("--slots", type=int, default=None, help="models resident at once (default: no limit)")
    parser.add_argument("--load-time", type=float, default=0.0, help="seconds each model load takes")
    parser.add_argument("--local", action="append", default=[], help="another local model (repeatable)")
    args = parser.parse_args()

    async def run() -> None:
        proxy = DMRProxy(
            args.engine,
            engine_model=args.model,
            embedding_url=args.embedding_engine,
            slots=args.slots,
            load_time=args.load_time,
        )
        for name in args.local:
            proxy.add_local(name)
        server = await proxy.serve(args.port)
        print(f"DMR proxy on {proxy.url} -> {args.engine}", flush=True)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
