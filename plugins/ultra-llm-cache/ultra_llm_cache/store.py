"""Cache keys and the two stores: an in-process LRU and a SQLite file.

A cached value is a whole ``Result`` or the tuple of ``Chunk`` objects of a complete stream.
Both stores are safe to use from several threads; the SQLite store is also safe across processes
(WAL journal, a busy timeout, one short transaction per operation) and reopens after a fork.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ultra_llm.plugin import Choice, Chunk, ImagePart, Message, Result, TokenLogprob, ToolCall, ToolCallDelta, Usage

if TYPE_CHECKING:
    from ultra_llm.plugin import GenerationRequest

__all__ = [
    "CachedValue",
    "is_damaged",
    "Kind",
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "decode_value",
    "encode_value",
    "is_deterministic",
    "request_key",
]

Kind = Literal["generate", "stream"]
CachedValue = Result | tuple[Chunk, ...]
KEY_VERSION = 3
"""Bumped when the key's payload changes shape (3: tools, tool choice, response format, reasoning
control, images by hash), so entries written under the old shape are never read as hits."""


def is_deterministic(request: GenerationRequest) -> bool:
    """True when the request asks for a reproducible answer: ``temperature`` 0 or a ``seed`` set."""
    options = request.options_dict
    temperature = options.get("temperature")
    return (temperature is not None and temperature == 0) or options.get("seed") is not None


def request_key(request: GenerationRequest, kind: Kind, endpoint: str | None = None) -> str:
    """A stable SHA-256 hex key over the call kind, the backend and its ``endpoint`` (which runner
    answers, ``Backend.served_from()``), and every field of the request that shapes the answer: model,
    messages (an image by the SHA-256 of its bytes, not inline), set options, tools, tool choice,
    response format (its OpenAI form) and reasoning control.

    Stable across processes and runs: canonical JSON (sorted keys, no whitespace), options that are
    not JSON types rendered with ``str``.
    """
    fmt = request.response_format
    payload = {
        "v": KEY_VERSION,
        "kind": kind,
        "backend": request.backend,
        "endpoint": endpoint,
        "model": request.model,
        "messages": [_message_key(message) for message in request.messages],
        "options": dict(request.options_dict),
        "tools": [tool.to_dict() for tool in request.tools],
        "tool_choice": request.tool_choice,
        "response_format": None if fmt is None else fmt.to_openai(),
        "reasoning": request.reasoning,
        "reasoning_budget": request.reasoning_budget,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _message_key(message: Message) -> dict[str, Any]:
    """The message's wire shape with each image as its media type and SHA-256 (a key, not the bytes)."""
    wire = message.to_dict()
    if not isinstance(message.content, str):
        wire["content"] = [
            {"type": "image", "media_type": part.media_type, "sha256": hashlib.sha256(part.data).hexdigest()}
            if isinstance(part, ImagePart)
            else part.to_dict()
            for part in message.content
        ]
    return wire


def _usage_dict(usage: Usage | None) -> dict[str, int | None] | None:
    return None if usage is None else dict(usage.__dict__)


def _usage(data: Any) -> Usage | None:
    return None if data is None else Usage(**data)


def _tokens(data: Any) -> tuple[TokenLogprob, ...]:
    """Token log probabilities from their ``to_dict()`` form (entries written before 0.4 have none)."""
    return tuple(
        TokenLogprob(
            item["token"],
            item["logprob"],
            None if item["bytes"] is None else tuple(item["bytes"]),
            _tokens(item["top_logprobs"]),
        )
        for item in data
    )


def encode_value(value: CachedValue) -> str:
    """The JSON text stored for ``value``: a ``Result`` with its tool calls, log probabilities and
    answers but not its ``parsed`` answers (the adapter parses the text again on a hit), or chunks
    with their tool-call pieces, log probabilities and answer index."""
    if isinstance(value, Result):
        data: dict[str, Any] = {"type": "result", **value.to_dict()}
        del data["parsed"]
        data["tool_calls"] = [call.to_dict() for call in value.tool_calls]
        data["choices"] = [
            {**choice.to_dict(), "parsed": None, "tool_calls": [call.to_dict() for call in choice.tool_calls]}
            for choice in value.choices
        ]
    else:
        data = {
            "type": "chunks",
            "chunks": [
                {
                    "text": c.text,
                    "kind": c.kind,
                    "finish_reason": c.finish_reason,
                    "usage": _usage_dict(c.usage),
                    "tool_call_deltas": [delta.__dict__ for delta in c.tool_call_deltas],
                    "logprobs": [token.to_dict() for token in c.logprobs],
                    "index": c.index,
                }
                for c in value
            ],
        }
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def decode_value(text: str) -> CachedValue:
    """The value ``encode_value`` stored; ``ValueError`` (or ``KeyError``/``TypeError``) when it is not one."""
    data = json.loads(text)
    if data["type"] == "result":
        return Result(
            text=data["text"],
            model=data["model"],
            backend=data["backend"],
            finish_reason=data["finish_reason"],
            usage=_usage(data["usage"]),
            reasoning=data["reasoning"],
            tool_calls=tuple(ToolCall.from_value(call) for call in data["tool_calls"]),
            logprobs=_tokens(data.get("logprobs", ())),
            choices=tuple(
                Choice(
                    choice["index"],
                    choice["text"],
                    choice["finish_reason"],
                    choice["reasoning"],
                    tuple(ToolCall.from_value(call) for call in choice["tool_calls"]),
                    _tokens(choice["logprobs"]),
                )
                for choice in data.get("choices", ())
            ),
        )
    if data["type"] == "chunks":
        return tuple(
            Chunk(
                c["text"],
                kind=c["kind"],
                finish_reason=c["finish_reason"],
                usage=_usage(c["usage"]),
                tool_call_deltas=tuple(ToolCallDelta(**delta) for delta in c["tool_call_deltas"]),
                logprobs=_tokens(c.get("logprobs", ())),
                index=c.get("index", 0),
            )
            for c in data["chunks"]
        )
    raise ValueError(f"unknown cached value type {data['type']!r}")


def is_damaged(error: BaseException) -> bool:
    """True when ``error`` says the SQLite file is not a (sound) database, not that it is busy."""
    return isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError)


class Store(Protocol):
    """What the runtime needs of a store. ``get`` counts the hit or miss it sees."""

    kind: str

    def get(self, key: str) -> CachedValue | None:
        """The value under ``key`` if present and fresh (marking it recently used), else ``None``."""

    def put(self, key: str, kind: Kind, value: CachedValue) -> None:
        """Store ``value`` under ``key``, evicting the least recently used entries beyond the limit."""

    def clear(self) -> int:
        """Remove every entry and reset the counters; return how many entries there were."""

    def stats(self) -> dict[str, Any]:
        """``entries`` and ``max_entries``, plus whatever the store keeps (SQLite: persistent hits, misses)."""

    def close(self) -> None:
        """Release resources; the store may not be used afterwards."""


class MemoryStore:
    """A thread-safe LRU of at most ``max_entries`` values, optionally expiring after ``ttl`` seconds."""

    kind = "memory"

    def __init__(
        self, max_entries: int = 10_000, ttl: float | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        """Seconds since the epoch, for the TTL (injectable: tests pass a fake one)."""
        self._entries: OrderedDict[str, tuple[float, CachedValue]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedValue | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            created, value = found
            if self.ttl is not None and self.clock() - created > self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: str, kind: Kind, value: CachedValue) -> None:
        with self._lock:
            self._entries[key] = (self.clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"entries": len(self._entries), "max_entries": self.max_entries, "ttl": self.ttl}

    def close(self) -> None:
        self.clear()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_last_used ON entries (last_used);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('hits', 0), ('misses', 0);
"""


class SQLiteStore:
    """A cache file shared by threads and processes (stdlib ``sqlite3``).

    The file and its tables are created on first use, not in the constructor. One connection per
    process, guarded by a lock; WAL journal and a ``busy_timeout`` let several processes read and
    write at once. Hits and misses are counted in the file, so they add up over every process.
    """

    kind = "sqlite"

    def __init__(
        self,
        path: Path,
        max_entries: int = 10_000,
        ttl: float | None = None,
        timeout: float = 5.0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        """Seconds since the epoch, stored as ``created``/``last_used``: TTL and LRU order (injectable)."""
        self.timeout = timeout
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    def _connect(self) -> sqlite3.Connection:
        """The open connection, (re)opened on first use and after a fork. Call with the lock held."""
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        self._create_private()
        connection = sqlite3.connect(
            str(self.path), timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        self._use_wal(connection)
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
        self._connection, self._pid = connection, os.getpid()
        return connection

    def _create_private(self) -> None:
        """The directory (0700 when this store makes it) and the file, 0600 (made so before SQLite
        opens it, tightened if it was wider): cached prompts and answers are the user's alone.
        SQLite gives its ``-wal`` and ``-shm`` files the database file's mode."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)

    def rebuild(self) -> None:
        """Replace a damaged file (and its ``-wal``/``-shm``) with a new, empty cache."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._connect()

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        """Switch the file to WAL. Several processes opening a new file at once can find it locked
        (SQLite does not always call the busy handler for this pragma): retry within ``timeout``."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "database is locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def get(self, key: str) -> CachedValue | None:
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT value, created FROM entries WHERE key = ?", (key,)).fetchone()
                now = self.clock()
                if row is not None and self.ttl is not None and now - row[1] > self.ttl:
                    db.execute("DELETE FROM entries WHERE key = ?", (key,))
                    row = None
                value: CachedValue | None = None
                if row is not None:
                    try:
                        value = decode_value(row[0])
                    except (ValueError, KeyError, TypeError):  # a damaged or foreign entry: drop it
                        db.execute("DELETE FROM entries WHERE key = ?", (key,))
                if value is not None:
                    db.execute("UPDATE entries SET last_used = ?, hits = hits + 1 WHERE key = ?", (now, key))
                db.execute(
                    "UPDATE counters SET value = value + 1 WHERE name = ?", ("hits" if value is not None else "misses",)
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return value

    def put(self, key: str, kind: Kind, value: CachedValue) -> None:
        text = encode_value(value)
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                now = self.clock()
                db.execute(
                    "INSERT OR REPLACE INTO entries (key, kind, value, created, last_used, hits) "
                    "VALUES (?, ?, ?, ?, ?, 0)",
                    (key, kind, text, now, now),
                )
                db.execute(
                    "DELETE FROM entries WHERE key IN "
                    "(SELECT key FROM entries ORDER BY last_used DESC LIMIT -1 OFFSET ?)",
                    (self.max_entries,),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def clear(self) -> int:
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                count = int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
                db.execute("DELETE FROM entries")
                db.execute("UPDATE counters SET value = 0")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return count

    def stats(self) -> dict[str, Any]:
        with self._lock:
            db = self._connect()
            entries = int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        return {
            "entries": entries,
            "max_entries": self.max_entries,
            "ttl": self.ttl,
            "path": str(self.path),
            "hits": int(counters.get("hits", 0)),
            "misses": int(counters.get("misses", 0)),
        }

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None
