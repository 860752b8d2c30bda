"""The names Ultra already calls, kept as drop-in replacements for the seed's adapters.

Ultra's code (``backend/services/llm_config_service.py``, its routes and tests) imports three
factories and one discovery function from the seed's Docker Model Runner modules. They live on
here with the same names and call shapes, and return ``ultra_llm.Adapter`` objects, which have the
seed's ``generate``, ``stream_generate``, ``get_available_models``, ``check_availability`` and
``get_capabilities``:

``await create_modelrunner_cli_adapter(model)``
    An adapter on the ``docker-cli`` backend, checked, with the fallback policy applied.
``create_modelrunner_adapter(model)`` / ``await create_modelrunner_adapter(model)``
    An adapter on the ``docker-api`` backend. The seed's module defined it as a plain function
    while its ``llm_config_service`` awaited it; both forms work here. Called plainly it returns
    an unchecked adapter at once (as the seed did: the first request tells whether the runner is
    up). Awaited, it checks availability and applies the fallback policy, exactly like
    ``create_modelrunner_cli_adapter``.
``await get_available_models(base_url=None)``
    The model names Docker Model Runner serves, as a list of strings.
``await create_adapter(model=None)``
    Lives in ``ultra_llm._factory``: the whole seed selection (``USE_MODEL_RUNNER`` and
    ``MODEL_RUNNER_TYPE`` through this family's ``ultra_llm_select_backend``, ``DEFAULT_MODEL``) in
    one call.

Ultra imported these from ``ultra_llm`` in 0.3; that import still works in 0.4 with a
``DeprecationWarning`` (``ultra_llm.__getattr__``), and goes in 0.5: import them from here.

Defects of the seed that these replacements fix (the names stay, the behaviour changes):

* Errors are raised as typed ``ultra_llm.errors`` exceptions with a fix; nothing returns or
  yields ``"Error: ..."`` text, so callers can tell an answer from a failure.
* Discovery raises a typed error when the runner cannot be asked, instead of returning ``[]``.
* The ``docker-cli`` backend sends the prompt on stdin, never in argv (no argv size limit, no
  prompt read as a flag) and decodes the stream incrementally (no broken multi-byte characters).
* ``get_capabilities()`` returns a dict that may also be awaited, because the seed's CLI adapter
  had an ``async`` version and Ultra may ``await`` it.

The fallback policy: when the Docker backend is unavailable, ``ULTRA_LLM_FALLBACK`` (default
``stand-in``: the mock) names the backend that serves instead, with one logged warning giving the reason and the
fix (the mock answers with text containing "mock response", as Ultra's tests expect); with
``ULTRA_LLM_FALLBACK=none`` the typed error is raised instead. A backend that is not installed at
all is a ``BackendNotFoundError`` here (these factories name their backend explicitly).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ultra_llm import Adapter, create_adapter, load_config
from ultra_llm.errors import ConfigurationError

if TYPE_CHECKING:
    from ultra_llm import PluginHost, UltraConfig

__all__ = [
    "CLI_BACKEND",
    "API_BACKEND",
    "Capabilities",
    "ModelRunnerAdapter",
    "UncheckedModelRunnerAdapter",
    "create_modelrunner_adapter",
    "create_modelrunner_cli_adapter",
    "get_available_models",
]

CLI_BACKEND = "cli"
"""The backend behind ``create_modelrunner_cli_adapter``: the one registered as the seed's ``MODEL_RUNNER_TYPE=cli``."""

API_BACKEND = "api"
"""The backend behind ``create_modelrunner_adapter``: the one registered as the seed's ``MODEL_RUNNER_TYPE=api``."""


class Capabilities(dict[str, Any]):
    """The capability dict, awaitable as well: ``caps = adapter.get_capabilities()`` and
    ``caps = await adapter.get_capabilities()`` (the seed's CLI adapter's form) both give it."""

    def __await__(self) -> Generator[Any, None, Capabilities]:
        return self._itself().__await__()

    async def _itself(self) -> Capabilities:
        return self


class ModelRunnerAdapter(Adapter):
    """The adapter the compatibility factories return: an ``Adapter`` whose ``get_capabilities``
    result may also be awaited. Everything else is ``Adapter``'s."""

    def get_capabilities(self) -> Capabilities:
        """Ultra's capability keys plus the backend's own, as a dict that is also awaitable."""
        return Capabilities(super().get_capabilities())

    @classmethod
    def over(cls, adapter: Adapter) -> ModelRunnerAdapter:
        """This kind of adapter on ``adapter``'s backend, model and selection (it owns them now)."""
        return cls(
            adapter.host, adapter.backend, model=adapter.model, config=adapter.config, selection=adapter.selection
        )


class UncheckedModelRunnerAdapter(ModelRunnerAdapter):
    """What a plain ``create_modelrunner_adapter(model)`` returns: usable at once, not yet checked.

    Awaiting it checks the backend and applies the fallback policy; the result is a checked
    ``ModelRunnerAdapter`` (this object when the backend is available, the fallback's adapter
    otherwise). This object's backend is closed when it is replaced, so use the awaited result.
    """

    settings_overrides: dict[str, Any] | None = None
    """The backend settings this adapter was made with (``base_url``, ``api_key``), re-applied by the check."""

    def __await__(self) -> Generator[Any, None, ModelRunnerAdapter]:
        return self._checked().__await__()

    async def _checked(self) -> ModelRunnerAdapter:
        checked = await create_adapter(
            self.model, backend=self.backend.name, settings=self.settings_overrides, host=self.host, config=self.config
        )
        if checked.name == self.backend.name and not checked.selection.fell_back:
            await checked.aclose()  # the check's own instance; keep the one callers already hold
            self.selection = checked.selection
            return self
        await self.aclose()
        return ModelRunnerAdapter.over(checked)


def _config(timeout: float | None, overrides: dict[str, Any]) -> UltraConfig:
    """The core configuration, with the seed's ``timeout`` (milliseconds) as ``ULTRA_LLM_TIMEOUT``."""
    if timeout is not None:
        overrides = {**overrides, "timeout": float(timeout) / 1000.0}
    return load_config(**overrides)


def _api_settings(base_url: str | None, api_key: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The docker-api settings the seed's legacy arguments ask for (``base_url`` -> ``url``,
    ``api_key``), for this adapter only; ``ConfigurationError`` for any other keyword argument."""
    if kwargs:
        raise ConfigurationError(
            f"Unsupported argument(s) to create_modelrunner_adapter: {', '.join(sorted(kwargs))}.",
            fix="Pass only model, base_url, api_key, timeout (milliseconds), host or config; "
            "generation options go to generate(prompt, **options).",
        )
    settings: dict[str, Any] = {}
    if base_url is not None:
        settings["url"] = base_url
    if api_key is not None:
        settings["api_key"] = api_key
    return settings


async def create_modelrunner_cli_adapter(
    model: str | None = None, *, host: PluginHost | None = None, config: UltraConfig | None = None
) -> ModelRunnerAdapter:
    """An adapter on the ``docker-cli`` backend for ``model`` (default ``DEFAULT_MODEL``).

    The backend's availability is checked; when it is unavailable the fallback policy applies
    (``ULTRA_LLM_FALLBACK``: the mock by default, ``none`` to raise the typed error, e.g.
    ``DockerDaemonDownError``). Raises ``BackendNotFoundError`` when the ``ultra-llm-docker-cli``
    plugin is not installed. ``host`` and ``config`` are for tests and embedding applications.
    """
    return ModelRunnerAdapter.over(await create_adapter(model, backend=CLI_BACKEND, host=host, config=config))


def create_modelrunner_adapter(
    model: str | None = None,
    *,
    base_url: str | None = None,
    timeout: float | None = None,
    api_key: str | None = None,
    host: PluginHost | None = None,
    config: UltraConfig | None = None,
    **kwargs: Any,
) -> UncheckedModelRunnerAdapter:
    """An adapter on the ``docker-api`` backend for ``model`` (default ``DEFAULT_MODEL``).

    Works both ways the seed used it. ``create_modelrunner_adapter(model)`` returns at once,
    unchecked, like the seed's synchronous factory: a runner that is down shows as a typed error
    on the first request. ``await create_modelrunner_adapter(model)`` (the seed's
    ``llm_config_service``) checks availability and applies the fallback policy, returning the
    adapter to use.

    ``timeout`` is the seed's total timeout in milliseconds (like ``LOCAL_MODEL_TIMEOUT``).
    ``base_url`` (the runner, or any OpenAI-compatible server: a URL ending in ``/v1`` selects
    that layout) and ``api_key`` apply to this adapter only; without them the runner's URL comes
    from ``MODEL_RUNNER_URL``. Other keyword arguments raise ``ConfigurationError``. Raises
    ``BackendNotFoundError`` when the ``ultra-llm-docker-api`` plugin is not installed.
    """
    settings = _api_settings(base_url, api_key, kwargs)
    adapter = UncheckedModelRunnerAdapter.on_backend(
        API_BACKEND, model=model, config=config or _config(timeout, {}), host=host, settings=settings
    )
    adapter.settings_overrides = settings
    return adapter


async def get_available_models(
    base_url: str | None = None, *, host: PluginHost | None = None, config: UltraConfig | None = None
) -> list[str]:
    """The canonical names of the models Docker Model Runner serves now.

    The backend is the one ``MODEL_RUNNER_TYPE`` names (``cli`` by default, ``api``), or
    ``ULTRA_LLM_BACKEND`` when set; with a ``base_url`` it is ``docker-api`` (the seed's function
    lived in the API adapter's module). There is no fallback here: a listing of the mock's models
    would be a wrong answer. A runner that cannot be asked raises its typed error (the seed
    returned ``[]``). Plugins' ``ultra_llm_register_models`` contributions are included.
    """
    from .settings import SelectionSettings

    config = config or load_config()
    name = API_BACKEND if base_url is not None else (config.backend or SelectionSettings.load().model_runner_type)
    adapter = Adapter.on_backend(name, config=config, host=host, settings=_api_settings(base_url, None, {}))
    async with adapter:
        return await adapter.get_available_models()
