"""Which kind of server answers an endpoint: Docker Model Runner, llama.cpp's llama-server, or another.

The kind chooses the fix texts an error carries (``docker model ...`` only for the runner). It costs
no request: the runner's layout (``/engines/...``) says DMR; otherwise the ``Server: llama.cpp``
header llama-server sets on every response (``srv->set_default_headers({{"Server", "llama.cpp"}})``
in llama.cpp's ``tools/server/server-http.cpp``) says llama-server, learned from the first answer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["ServerKind", "kind_from_headers"]


class ServerKind(enum.Enum):
    """What serves an endpoint, as far as this backend can tell."""

    DMR = "Docker Model Runner"
    LLAMA_SERVER = "llama-server"
    OPENAI = "an OpenAI-compatible server"
    """Any other server in the ``/v1`` layout (vLLM, Ollama, a gateway), or one not heard from yet."""


def kind_from_headers(headers: Mapping[str, str]) -> ServerKind | None:
    """``LLAMA_SERVER`` when the response names llama.cpp as its server; ``None`` when it says nothing."""
    server = headers.get("server", "")
    return ServerKind.LLAMA_SERVER if server.lower().startswith("llama.cpp") else None
