"""Error mapping (runner plain text, llama.cpp and OpenAI JSON) and settings resolution."""

from __future__ import annotations

import dataclasses
import json

import pytest
from ultra_llm_docker.errors import ModelRunnerNotEnabledError
from ultra_llm_docker_api.error_map import error_from_body
from ultra_llm_docker_api.settings import DockerAPISettings, resolve

from ultra_llm._config import load_config
from ultra_llm.errors import (
    BackendUnavailableError,
    BadRequestError,
    ConfigurationError,
    ContextLengthExceededError,
    GenerationError,
    GenerationTimeoutError,
    ModelNotFoundError,
)

URL = "http://localhost:12434/engines/v1/chat/completions"


def mapped(status: int, body: bytes | dict[str, object], model: str | None = "ai/smollm2:latest") -> Exception:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return error_from_body(status, raw, model=model, url=URL)


def test_context_size_errors_carry_both_numbers() -> None:
    llama_server = {
        "error": {
            "code": 400,
            "message": "request (4139 tokens) exceeds the available context size (4096 tokens), try increasing it",
            "type": "exceed_context_size_error",
        }
    }
    openai = {
        "error": {
            "message": "This model's maximum context length is 512 tokens. However, you requested 600 tokens "
            "(590 in the messages, 10 in the completion).",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    for body, numbers in ((llama_server, (4139, 4096)), (openai, (600, 512))):
        error = mapped(400, body)
        assert isinstance(error, ContextLengthExceededError)
        assert (error.requested, error.available) == numbers
        assert str(numbers[0]) in error.message and str(numbers[1]) in error.message
        assert "--context-size" in error.fix


def test_runner_plain_text_errors() -> None:
    missing = mapped(404, b"model not found\n")
    assert isinstance(missing, ModelNotFoundError) and "`docker model pull ai/smollm2:latest`" in missing.fix
    assert isinstance(mapped(400, b"model is required\n"), BadRequestError)
    unavailable = mapped(503, b"service unavailable\n")
    assert isinstance(unavailable, ModelRunnerNotEnabledError) and "--tcp 12434" in unavailable.fix
    engine = mapped(404, b"backend not found\n")
    assert isinstance(engine, ConfigurationError) and "ENGINE" in engine.fix
    load = mapped(500, b"unable to load runner: not enough memory\n")
    assert type(load) is GenerationError and "not enough memory" in load.output
    server = mapped(502, b"", model=None)
    assert isinstance(server, ModelRunnerNotEnabledError)
    other = mapped(500, b"something odd\n")
    assert type(other) is GenerationError and other.output == "something odd\n"
    assert "500" in other.message


def test_other_statuses() -> None:
    assert isinstance(mapped(404, b"404 page not found", model=None), BackendUnavailableError)
    assert "ULTRA_LLM_DOCKER_API_PATH" in mapped(404, b"nope\n", model=None).fix  # type: ignore[attr-defined]
    assert isinstance(mapped(401, b"unauthorized"), BackendUnavailableError)
    assert isinstance(mapped(408, b""), GenerationTimeoutError)
    assert isinstance(mapped(409, b"resource conflict\n"), BadRequestError)
    vllm = {"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}
    assert isinstance(mapped(404, vllm), ModelNotFoundError)
    bad = mapped(422, {"detail": [{"msg": "field required"}]})
    assert isinstance(bad, BadRequestError)


def test_every_error_is_one_line_with_a_fix() -> None:
    for status, body in ((404, b"model not found\n"), (503, b"service unavailable\n"), (400, b"x\n")):
        error = mapped(status, body)
        assert "\n" not in error.message and error.fix  # type: ignore[attr-defined]


def settings(**values: object) -> DockerAPISettings:
    return DockerAPISettings.load(**values)  # type: ignore[arg-type]


def test_default_endpoint_and_its_own_limits() -> None:
    """The endpoint carries docker-api's own named limits; the call's total and first-token deadlines
    are the adapter's, so the endpoint has no copy of them."""
    endpoint = resolve(settings(), load_config())
    assert endpoint.api("/chat/completions") == "http://localhost:12434/engines/v1/chat/completions"
    assert endpoint.management("/models") == "http://localhost:12434/models"
    assert endpoint.runner_layout and endpoint.uds is None
    assert (endpoint.connect_timeout, endpoint.idle_timeout, endpoint.pull_idle_timeout) == (5.0, 60.0, 300.0)
    assert (endpoint.retry_wait_initial, endpoint.retry_wait_max) == (0.5, 10.0)
    assert not hasattr(endpoint, "total_timeout") and not hasattr(endpoint, "first_token_timeout")


@pytest.mark.parametrize(
    ("url", "extra", "api", "management"),
    [
        ("http://model-runner.docker.internal", {}, "http://model-runner.docker.internal/engines/v1/x", True),
        ("http://h:1/", {"engine": "llama.cpp"}, "http://h:1/engines/llama.cpp/v1/x", True),
        ("http://h:1", {"path": "/v1"}, "http://h:1/v1/x", False),
        ("http://vllm:8000/v1", {}, "http://vllm:8000/v1/x", False),
        ("http://h:1/engines/llama.cpp/v1", {}, "http://h:1/engines/llama.cpp/v1/x", True),
        ("http://gw/prefix/engines/v1/", {}, "http://gw/prefix/engines/v1/x", True),
        ("unix:///var/run/docker.sock", {}, "http://localhost/exp/vDD4.40/engines/v1/x", True),
    ],
)
def test_url_forms(url: str, extra: dict[str, object], api: str, management: bool) -> None:
    endpoint = resolve(settings(url=url, **extra))
    assert endpoint.api("/x") == api
    assert endpoint.runner_layout is management
    if url.startswith("unix://"):
        assert endpoint.uds == "/var/run/docker.sock"
    if url.startswith("http://gw/prefix"):
        assert endpoint.management("/models") == "http://gw/prefix/models"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_RUNNER_URL", "http://runner:9999")
    monkeypatch.setenv("ULTRA_LLM_DOCKER_API_IDLE_TIMEOUT", "7")
    monkeypatch.setenv("ULTRA_LLM_DOCKER_API_PULL_IDLE_TIMEOUT", "900")
    monkeypatch.setenv("ULTRA_LLM_DOCKER_API_RETRY_WAIT_MAX", "2.5")
    endpoint = resolve(DockerAPISettings.load(), load_config())
    assert endpoint.origin == "http://runner:9999"
    assert (endpoint.idle_timeout, endpoint.pull_idle_timeout, endpoint.retry_wait_max) == (7.0, 900.0, 2.5)


@pytest.mark.parametrize("url", ["localhost:12434", "ftp://x", "unix://relative.sock"])
def test_unusable_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError, match="MODEL_RUNNER_URL"):
        resolve(settings(url=url))


@pytest.mark.parametrize(
    "variable", ["ULTRA_LLM_DOCKER_API_KEY", "MODEL_RUNNER_API_KEY", "ULTRA_LLM_DOCKER_API_API_KEY"]
)
def test_every_documented_key_variable_sets_the_secret(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for other in ("ULTRA_LLM_DOCKER_API_KEY", "MODEL_RUNNER_API_KEY", "ULTRA_LLM_DOCKER_API_API_KEY"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(variable, "s3cret-token")
    settings = DockerAPISettings.load()
    assert settings.api_key is not None and settings.api_key.get() == "s3cret-token"
    endpoint = resolve(settings, load_config())
    assert endpoint.authorization == "Bearer s3cret-token"
    assert "s3cret-token" not in repr(settings) + repr(endpoint) + str(dataclasses.asdict(settings))


def test_the_401_fix_names_a_variable_the_setting_reads() -> None:
    error = error_from_body(401, b"unauthorized\n", model=None, url=URL)
    assert error.fix is not None and "ULTRA_LLM_DOCKER_API_KEY" in error.fix and "MODEL_RUNNER_API_KEY" in error.fix


def test_a_blank_key_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ULTRA_LLM_DOCKER_API_KEY", "  ")
    assert DockerAPISettings.load().api_key is None


# MODEL_RUNNER_HOST as the runner's own CLI reads it: docker/model-runner cmd/cli/desktop/context.go:249
# (the variable), :326-339 (no http:// or https://: http://, or https:// with MODEL_RUNNER_TLS=true).


@pytest.mark.parametrize(
    ("host", "tls", "origin"),
    [
        ("remote:12434", None, "http://remote:12434"),
        ("remote:12434", "true", "https://remote:12434"),
        ("http://remote:9", "true", "http://remote:9"),
        ("https://remote:9", None, "https://remote:9"),
    ],
)
def test_model_runner_host_is_used_when_model_runner_url_is_unset(
    host: str, tls: str | None, origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MODEL_RUNNER_URL", "ULTRA_LLM_DOCKER_API_URL", "MODEL_RUNNER_TLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_RUNNER_HOST", host)
    if tls is not None:
        monkeypatch.setenv("MODEL_RUNNER_TLS", tls)
    endpoint = resolve(DockerAPISettings.load(), load_config())
    assert endpoint.origin == origin
    assert endpoint.runner_layout and endpoint.api("/x") == f"{origin}/engines/v1/x"


def test_model_runner_url_wins_over_model_runner_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_RUNNER_HOST", "remote:12434")
    monkeypatch.setenv("MODEL_RUNNER_URL", "http://runner:9999")
    assert resolve(DockerAPISettings.load(), load_config()).origin == "http://runner:9999"
    monkeypatch.setenv("MODEL_RUNNER_URL", "  ")  # blank is unset, as an empty MODEL_RUNNER_HOST is for the CLI
    assert resolve(DockerAPISettings.load(), load_config()).origin == "http://remote:12434"


def test_neither_set_is_the_default_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODEL_RUNNER_URL", "ULTRA_LLM_DOCKER_API_URL", "MODEL_RUNNER_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert resolve(DockerAPISettings.load(), load_config()).origin == "http://localhost:12434"


def test_a_bad_model_runner_host_names_that_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_RUNNER_URL", raising=False)
    monkeypatch.delenv("ULTRA_LLM_DOCKER_API_URL", raising=False)
    monkeypatch.setenv("MODEL_RUNNER_HOST", "http://")  # a scheme and no host
    with pytest.raises(ConfigurationError, match="MODEL_RUNNER_HOST"):
        resolve(DockerAPISettings.load(), load_config())
