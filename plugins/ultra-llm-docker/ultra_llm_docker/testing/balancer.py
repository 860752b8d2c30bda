"""A real nginx (Debian's) in front of test engines, configured by the documented recipe.

``start_balancer(recipe, backends, directory)`` runs the recipe (the repository's
``docs/examples/nginx/ultra-llm-runners.conf``, which the caller locates) with its ``server`` lines
replaced by the given loopback addresses and its ``listen`` by a free loopback port, inside a
minimal main configuration (temp paths and logs under ``directory``), as a foreground process in its
own process group; ``stop()`` ends that group by its id. The access log records which upstream
answered each request (``$upstream_addr``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .engine.launcher import free_port

__all__ = ["Balancer", "nginx_binary", "recipe_for", "start_balancer"]

_SERVER_LINE = re.compile(r"^(\s*)server \S+:\d+ (.*);$", re.MULTILINE)
_LISTEN_LINE = re.compile(r"^(\s*)listen \d+;$", re.MULTILINE)

_MAIN = """worker_processes 1;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    log_format upstream '$request_method $uri $status $upstream_addr';
    access_log {dir}/access.log upstream;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    include {dir}/runners.conf;
}}
"""


def nginx_binary() -> str | None:
    """Debian's nginx (``apt-get install nginx-light``), or None when it is not installed."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


@dataclass
class Balancer:
    """A running nginx: ``url`` is ``http://127.0.0.1:PORT``; ``upstreams()`` who answered each request."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[tuple[str, str, int, str]]:
        """Each logged request, in order: method, path, status, and ``$upstream_addr`` (several,
        comma-separated, when nginx passed the request on to the next runner)."""
        log = self.directory / "access.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [
            (method, path, int(status), upstream)
            for method, path, status, upstream in (line.split(" ", 3) for line in lines)
        ]

    def upstreams(self) -> list[str]:
        """The ``$upstream_addr`` of each logged request, in order."""
        return [upstream for *_, upstream in self.requests()]

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        """End nginx's process group (master and worker) and reap the master; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def recipe_for(recipe: Path, backends: list[str], port: int) -> str:
    """The recipe at ``recipe`` with its runners replaced by ``backends`` (``host:port``) and its listen
    address by ``127.0.0.1:port``."""
    text = recipe.read_text()
    lines = _SERVER_LINE.findall(text)
    if len(lines) != len(backends):
        raise ValueError(f"the recipe names {len(lines)} runners, the test has {len(backends)}")
    addresses = iter(backends)
    text = _SERVER_LINE.sub(lambda m: f"{m.group(1)}server {next(addresses)} {m.group(2)};", text)
    return _LISTEN_LINE.sub(lambda m: f"{m.group(1)}listen 127.0.0.1:{port};", text)


def start_balancer(recipe: Path, backends: list[str], directory: Path, *, startup_timeout: float = 20.0) -> Balancer:
    """Start nginx over ``backends`` with ``recipe``; wait until it accepts connections."""
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed (apt-get install nginx-light)")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    (directory / "runners.conf").write_text(recipe_for(recipe, backends, port))
    (directory / "nginx.conf").write_text(_MAIN.format(dir=directory))
    with (directory / "stderr.log").open("wb") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [binary, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    balancer = Balancer(process, port, directory)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            balancer.stop()
            raise RuntimeError(f"nginx exited at start: {(directory / 'stderr.log').read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return balancer
        time.sleep(0.05)
    balancer.stop()
    raise RuntimeError(f"nginx did not listen on {port} within {startup_timeout:g} s: {balancer.error_log()}")
