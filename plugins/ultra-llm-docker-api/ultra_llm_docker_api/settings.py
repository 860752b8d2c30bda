"""The backend's settings from the environment, and the endpoint and limits they resolve to.

``DockerAPISettings`` is what ``ultra-llm config`` shows; ``resolve`` turns it (with the core
``UltraConfig``, which owns the timeouts) into an immutable ``Endpoint`` the transport uses.

URL forms accepted by ``MODEL_RUNNER_URL``:

- ``http://localhost:12434`` (Docker Engine, or Docker Desktop with TCP enabled): the runner's
  layout, inference under ``/engines/v1`` (``/engines/<engine>/v1`` when an engine is set).
- ``http://model-runner.docker.internal`` from inside a container.
- ``unix:///path/to/docker.sock``: Docker Desktop without TCP, through the Docker socket, with the
  path prefix ``ULTRA_LLM_DOCKER_API_SOCKET_PREFIX`` (default ``/exp/vDD4.40``).
- Several URLs separated by commas (``http://host-a:12434,http://host-b:12434``): the backend
  spreads requests over them (least outstanding requests), ejects a failing one for
  ``ULTRA_LLM_DOCKER_API_EJECT_COOLDOWN`` seconds and fails a request over to another endpoint
  while nothing of its answer has arrived. All of them must use the same layout.
- Unset: ``MODEL_RUNNER_HOST`` when it is set, as the runner's own CLI reads it (docker/model-runner
  ``cmd/cli/desktop/context.go:249,326-339`` at 642c7211: a host without ``http://``/``https://``
  gets ``http://``, or ``https://`` when ``MODEL_RUNNER_TLS=true``); else ``http://localhost:12434``.
- A URL whose path already ends in ``/v1`` (``http://vllm:8000/v1``, ``http://host/engines/v1``):
  that path is the API path. Otherwise ``ULTRA_LLM_DOCKER_API_PATH=/v1`` selects the OpenAI layout
  of llama.cpp's server, vLLM, Ollama or a Kubernetes service; management (pull, remove, the
  runner's ``/models``) exists only in the runner's layout.

Credentials in a URL (``http://user:password@host``) never stay in it: they become the
``Authorization: Basic`` header here, once, and every URL the backend requests or shows is
without them (the API key, when there is no user-info, is the ``Bearer`` header).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from ultra_llm.errors import ConfigurationError
from ultra_llm.plugin import Alias, Secret, Settings, UltraConfig, redact_urls, setting

__all__ = ["DEFAULT_URL", "DockerAPISettings", "Endpoint", "base_url", "resolve", "resolve_all"]

DEFAULT_URL = "http://localhost:12434"
DEFAULT_SOCKET_PREFIX = "/exp/vDD4.40"
RETRY_AFTER_MAX = 60.0
"""The longest ``Retry-After`` honoured, in seconds (a longer one fails at once, saying so)."""
MAX_CONNECTIONS = 100
"""Connections per endpoint's pool (each stream holds one while it runs)."""


def _blank_is_unset(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


@dataclass(frozen=True)
class DockerAPISettings(Settings):
    """``MODEL_RUNNER_URL`` and ``ULTRA_LLM_DOCKER_API_*``: where the runner is and the transport's
    knobs. The request deadlines are the adapter's (``ULTRA_LLM_TIMEOUT``, ``ULTRA_LLM_FIRST_TOKEN_TIMEOUT``)."""

    env_prefix: ClassVar[str] = "ULTRA_LLM_DOCKER_API_"

    url: str | None = setting(
        None,
        env="MODEL_RUNNER_URL",
        aliases=["ULTRA_LLM_DOCKER_API_URL"],
        help="Docker Model Runner's base URL (http://model-runner.docker.internal in a container; "
        "unix:///path/docker.sock for Desktop without TCP), or an OpenAI-compatible server; several, "
        "comma-separated, to spread requests over them. Unset: MODEL_RUNNER_HOST, else "
        f"{DEFAULT_URL}.",
        check=_blank_is_unset,
    )
    host: str | None = setting(
        None,
        env="MODEL_RUNNER_HOST",
        help="The runner's address as `docker model` reads it (host:port or a URL; http:// added, https:// "
        "with MODEL_RUNNER_TLS=true); used only when MODEL_RUNNER_URL is unset.",
        check=_blank_is_unset,
    )
    tls: bool = setting(
        False,
        env="MODEL_RUNNER_TLS",
        help="With MODEL_RUNNER_HOST: a host without a scheme is reached over https:// (as `docker model`).",
    )
    path: str | None = setting(
        None,
        help="API path: unset for the runner's /engines/v1; /v1 for llama.cpp's server, vLLM, Ollama.",
        check=_blank_is_unset,
    )
    engine: str | None = setting(
        None, help="Runner engine to address, e.g. llama.cpp (gives /engines/llama.cpp/v1).", check=_blank_is_unset
    )
    socket_prefix: str = setting(DEFAULT_SOCKET_PREFIX, help="Path prefix of the runner's API on the Docker socket.")
    api_key: Secret | None = setting(
        None,
        env="ULTRA_LLM_DOCKER_API_KEY",
        aliases=[Alias("MODEL_RUNNER_API_KEY", deprecated=False), "ULTRA_LLM_DOCKER_API_API_KEY"],
        help="Bearer token for servers that need one (vLLM, gateways); sent as Authorization, never shown.",
    )
    connect_timeout: float = setting(5.0, gt=0, help="Seconds to open a connection.")
    idle_timeout: float = setting(60.0, gt=0, help="Seconds allowed between two streamed chunks.")
    pull_idle_timeout: float = setting(
        300.0,
        gt=0,
        help="Seconds a pull may go without progress (its first record included) before it fails; a pull has "
        "no total unless the call sets one.",
    )
    retries: int = setting(
        3,
        ge=1,
        le=20,
        help="Attempts per request (1 = no retry); resending on a closed kept-alive connection "
        "and waiting for a loading model are not attempts.",
    )
    retry_wait_initial: float = setting(
        0.5, ge=0, help="First backoff in seconds (doubles, with jitter, up to ULTRA_LLM_DOCKER_API_RETRY_WAIT_MAX)."
    )
    retry_wait_max: float = setting(10.0, ge=0, help="The longest backoff between two attempts, in seconds.")
    max_response_bytes: int = setting(
        32 * 1024 * 1024, ge=1024, help="Cap on a response read into memory (whole or streamed)."
    )
    stream_usage: bool = setting(True, help="Ask streams for token usage (stream_options.include_usage).")
    eject_failures: int = setting(
        2, ge=1, help="Several URLs: consecutive failures after which an endpoint is ejected."
    )
    eject_cooldown: float = setting(
        10.0, gt=0, help="Several URLs: seconds an ejected endpoint gets no traffic before a retry."
    )
    health_interval: float = setting(
        5.0, ge=0, help="Several URLs: seconds between health checks while the backend is in use (0: none)."
    )
    models_refresh: float = setting(
        5.0,
        ge=0,
        help="Several URLs: seconds a runner's list of models (and of loaded ones) is trusted before it is "
        'read again; it is also read again after a "not found", a load and a lifecycle call.',
    )


@dataclass(frozen=True)
class Endpoint:
    """Where and how to talk: the origin, paths, socket, limits and timeouts, all resolved."""

    origin: str
    """``scheme://host[:port]`` (``http://localhost`` for a socket), plus the socket prefix if any."""
    api_path: str
    """Inference path prefix, e.g. ``/engines/v1`` or ``/v1`` (no trailing slash)."""
    runner_layout: bool
    """True when management routes (``/models``, ``/models/create``) exist: Docker Model Runner."""
    uds: str | None
    display_url: str
    """The URL as configured, credentials masked: what messages and listings show."""
    authorization: str | None = field(repr=False)
    """The ``Authorization`` header, if any: ``Basic`` from the URL's user-info, else ``Bearer`` with
    the API key. Kept out of ``repr`` (and so out of logs of the endpoint)."""
    identity: str
    """Everything that decides where a request goes and as whom: origin, API path, socket, and the
    credentials as a keyed SHA-256 digest (never in clear). Caches key answers by it."""
    connect_timeout: float
    idle_timeout: float
    pull_idle_timeout: float
    check_timeout: float
    retries: int
    retry_wait_initial: float
    retry_wait_max: float
    retry_after_max: float
    max_response_bytes: int
    max_connections: int
    stream_usage: bool

    def api(self, tail: str) -> str:
        """Absolute URL of an inference route, e.g. ``api("/chat/completions")``."""
        return f"{self.origin}{self.api_path}{tail}"

    def management(self, tail: str) -> str:
        """Absolute URL of a runner route, e.g. ``management("/models")``."""
        return f"{self.origin}{tail}"


def _bad(variable: str, value: str, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"{variable}={redact_urls(value)!r} is not allowed: {why}.",
        fix="Use http://localhost:12434 (Docker Engine, or Desktop with TCP), "
        "http://model-runner.docker.internal (in a container), or unix:///path/to/docker.sock.",
    )


def split_urls(value: str) -> list[str]:
    """The URLs of a ``MODEL_RUNNER_URL`` value: comma-separated, blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def resolve(settings: DockerAPISettings, config: UltraConfig | None = None) -> Endpoint:
    """The (first) ``Endpoint`` the settings describe; ``ConfigurationError`` for a URL that cannot work."""
    return resolve_all(settings, config)[0]


def base_url(settings: DockerAPISettings) -> tuple[str, str]:
    """``(urls, variable)``: ``MODEL_RUNNER_URL`` when set, else ``MODEL_RUNNER_HOST`` with the scheme
    the runner's CLI gives it (``cmd/cli/desktop/context.go:326-339`` at 642c7211), else the default."""
    if settings.url is not None:
        return settings.url, "MODEL_RUNNER_URL"
    if settings.host is not None:
        host = settings.host
        if not host.startswith(("http://", "https://")):
            host = ("https://" if settings.tls else "http://") + host
        return host, "MODEL_RUNNER_HOST"
    return DEFAULT_URL, "MODEL_RUNNER_URL"


def resolve_all(settings: DockerAPISettings, config: UltraConfig | None = None) -> list[Endpoint]:
    """One ``Endpoint`` per URL of ``MODEL_RUNNER_URL`` (comma-separated), in the given order;
    ``MODEL_RUNNER_HOST`` (one runner) when ``MODEL_RUNNER_URL`` is unset."""
    raw, variable = base_url(settings)
    urls = split_urls(raw)
    if not urls:
        raise _bad(variable, raw, "it names no URL")
    endpoints = [_resolve_one(url, settings, config, variable) for url in urls]
    if len({ep.identity for ep in endpoints}) != len(endpoints):
        raise _bad(variable, raw, "it names the same endpoint twice")
    if len({(ep.api_path, ep.runner_layout) for ep in endpoints}) != 1:
        raise _bad(variable, raw, "its URLs use different API paths (one layout for all)")
    return endpoints


_CREDENTIAL_KEY = b"ultra-llm docker-api endpoint credentials"
"""The key of the credentials' digest in ``Endpoint.identity`` (a fixed label: it keeps the digest
apart from any other SHA-256 of the same text; the digest is hashed again into any cache key)."""


def _authorization(userinfo: str, api_key: str | None) -> str | None:
    """The ``Authorization`` header: the URL's user-info as ``Basic`` (percent-decoded, as httpx2 would
    send it), else the API key as ``Bearer``; ``None`` without either."""
    user, _, password = userinfo.partition(":")
    if user or password:
        pair = f"{unquote(user)}:{unquote(password)}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    return f"Bearer {api_key}" if api_key else None


def _identity(origin: str, api_path: str, uds: str | None, authorization: str | None) -> str:
    """``Endpoint.identity``: where (origin, API path, socket) and as whom (a digest of the credentials)."""
    where = f"{origin}{api_path}" + (f" via unix://{uds}" if uds else "")
    if authorization is None:
        return where
    digest = hmac.new(_CREDENTIAL_KEY, authorization.encode(), hashlib.sha256).hexdigest()
    return f"{where} as sha256:{digest}"


def _resolve_one(raw: str, settings: DockerAPISettings, config: UltraConfig | None, variable: str) -> Endpoint:
    uds: str | None = None
    userinfo = ""
    api_path = settings.path
    if raw.startswith("unix://"):
        uds = raw[len("unix://") :]
        if not uds.startswith("/"):
            raise _bad(variable, raw, "a unix socket URL needs an absolute path (unix:///...)")
        origin = "http://localhost" + settings.socket_prefix.rstrip("/")
    else:
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - reading it validates the port (0-65535)
        except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
            raise _bad(variable, raw, f"it is not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad(variable, raw, "it must be an http(s):// or unix:// URL")
        if parts.query or parts.fragment:
            raise _bad(
                variable,
                raw,
                "a query or fragment is never sent (an API key goes in ULTRA_LLM_DOCKER_API_API_KEY)",
            )
        userinfo, _, host = parts.netloc.rpartition("@")
        origin = f"{parts.scheme}://{host}"
        path = parts.path.rstrip("/")
        if api_path is None and path.endswith("/v1"):
            # The URL names the API itself; a runner's /engines/... keeps management at its root.
            marker = path.find("/engines/")
            if marker >= 0:
                api_path, origin = path[marker:], origin + path[:marker]
            else:
                api_path = path
        else:
            origin += path
    if api_path is None:
        api_path = f"/engines/{settings.engine}/v1" if settings.engine else "/engines/v1"
    if not api_path.startswith("/"):
        api_path = "/" + api_path
    api_path = api_path.rstrip("/")

    core = config if config is not None else UltraConfig.load()
    authorization = _authorization(userinfo, settings.api_key.get() if settings.api_key is not None else None)
    return Endpoint(
        origin=origin,
        api_path=api_path,
        runner_layout=api_path.startswith("/engines"),
        uds=uds,
        display_url=redact_urls(raw),
        authorization=authorization,
        identity=_identity(origin, api_path, uds, authorization),
        connect_timeout=settings.connect_timeout,
        idle_timeout=settings.idle_timeout,
        pull_idle_timeout=settings.pull_idle_timeout,
        check_timeout=core.check_timeout,
        retries=settings.retries,
        retry_wait_initial=settings.retry_wait_initial,
        retry_wait_max=settings.retry_wait_max,
        retry_after_max=RETRY_AFTER_MAX,
        max_response_bytes=settings.max_response_bytes,
        max_connections=MAX_CONNECTIONS,
        stream_usage=settings.stream_usage,
    )
