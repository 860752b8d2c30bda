"""Loading the plugin is cheap and silent: no httpx2 or pydantic import, no connection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_entry_point_imports_nothing_heavy_and_registers_by_string() -> None:
    code = """
import sys
import ultra_llm_docker_api.plugin as plugin
seen = []
plugin.ultra_llm_register_backends(lambda name, target, **kw: seen.append((name, target, tuple(kw.get('aliases', ())))))
heavy = sorted(m for m in ('httpx2', 'httpcore2', 'pydantic', 'pydantic_settings') if m in sys.modules)
print(seen, heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[('docker-api', 'ultra_llm_docker_api.backend:DockerAPIBackend', ('api',))] []"


def test_building_the_backend_opens_no_connection() -> None:
    code = """
import asyncio, socket
real_connect = socket.socket.connect
def refuse(*a, **k):
    raise AssertionError("a connection was opened while building the backend")
socket.socket.connect = refuse
from ultra_llm._config import load_config
from ultra_llm_docker_api.backend import DockerAPIBackend
backend = DockerAPIBackend(load_config())
assert not backend.transport.started
asyncio.run(backend.aclose())
print(backend.endpoint.api('/chat/completions'))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.stdout.strip() == "http://localhost:12434/engines/v1/chat/completions", result.stderr


def test_the_host_finds_the_backend_and_its_alias() -> None:
    from ultra_llm._host import PluginHost

    host = PluginHost()
    assert host.resolve_backend_name("api") == "docker-api"
    cls = host.backend_spec("docker-api").load()
    assert {"max_tokens", "seed", "stop", "temperature", "top_p", "top_k", "logprobs", "n", "extra"} <= set(
        cls.capabilities()["options"]
    )
    caps = cls.capabilities()
    assert caps["embeddings"] and caps["store"] and caps["lifecycle"]
