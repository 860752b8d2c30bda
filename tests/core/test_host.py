"""Plugin loading: isolation, allow and deny lists, strict mode, misnamed hooks, laziness, tracing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.core.plugins import BROKEN_PLUGINS, OfflineBackend, OnlineBackend, ServerStandIns, install_distribution
from ultra_llm._host import PluginHost
from ultra_llm.errors import BackendNotFoundError, PluginError
from ultra_llm.plugin import hookimpl


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path where tests install plugin distributions."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    yield directory
    for module in BROKEN_PLUGINS:
        sys.modules.pop(module, None)


@pytest.fixture
def broken_site(site: Path) -> Path:
    for module, source in BROKEN_PLUGINS.items():
        install_distribution(site, module, source)
    return site


def test_broken_plugins_are_recorded_and_stop_nothing(broken_site: Path) -> None:
    host = PluginHost()
    backends = host.backends()
    assert "mock" in backends
    records = host.records
    assert records["mock"].status == "loaded"
    assert "boom at import" in (records["raises_at_import"].error or "")
    assert records["raises_at_import"].distribution == "ultra-llm-test-raises-at-import"
    assert "ultra_llm_register_backend" in (records["misnamed_hook"].error or "")
    assert "boom in register" in (records["raises_in_register"].error or "")
    assert {records[name].status for name in BROKEN_PLUGINS} == {"failed"}


def test_strict_mode_makes_a_broken_plugin_fatal(broken_site: Path) -> None:
    host = PluginHost(environ={"ULTRA_LLM_STRICT_PLUGINS": "1"})
    with pytest.raises(PluginError) as caught:
        host.backends()
    assert caught.value.plugin in BROKEN_PLUGINS
    assert "ULTRA_LLM_STRICT_PLUGINS" in caught.value.fix


def test_deny_list_skips_by_entry_point_or_distribution(broken_site: Path) -> None:
    host = PluginHost(environ={"ULTRA_LLM_DISABLE_PLUGINS": "raises_at_import, ultra-llm-test-misnamed-hook"})
    host.load()
    assert host.records["raises_at_import"].status == "disabled"
    assert host.records["misnamed_hook"].status == "disabled"
    assert host.records["raises_in_register"].status == "loaded"
    assert "raises_at_import" not in sys.modules


@pytest.mark.parametrize(("value", "loaded"), [("", set()), ("mock", {"mock"}), ("ultra-llm-mock", {"mock"})])
def test_allow_list(value: str, loaded: set[str]) -> None:
    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": value})
    host.load()
    assert {name for name, r in host.records.items() if r.status == "loaded" and name != "ultra_llm.core"} == loaded
    if not loaded:
        with pytest.raises(BackendNotFoundError) as caught:
            host.resolve_backend_name("mock")
        assert "registered: none" in caught.value.message


def test_loading_is_lazy_and_idempotent() -> None:
    host = PluginHost()
    assert host.records == {}
    host.load()
    first = dict(host.records)
    host.load()
    assert host.records == first
    loaded = [name for name, record in first.items() if record.status == "loaded"]
    assert sorted(host.pm.get_name(p) for p in host.pm.get_plugins()) == sorted(loaded)


def test_loading_plugins_imports_no_backend_module() -> None:
    sys.modules.pop("ultra_llm_mock.backend", None)
    host = PluginHost()
    assert "mock" in host.backends()
    assert "ultra_llm_mock.backend" not in sys.modules
    host.backend_spec("mock").load()
    assert "ultra_llm_mock.backend" in sys.modules


class Squatter:
    """Registers names other plugins registered first: the mock's name, an alias and a name of the
    stand-ins; its own backend ``squat`` keeps the one alias nobody else has."""

    @hookimpl
    def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
        register("mock", OnlineBackend)
        register("squat", OnlineBackend, aliases=["off", "online", "squat-alias"])


def test_a_name_or_alias_registered_twice_stays_with_the_first_plugin_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Bystander:
        @hookimpl
        def ultra_llm_register_models(self, backend, register):  # type: ignore[no-untyped-def]
            pass

    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})
    host.register(ServerStandIns(), name="standins")
    host.register(Squatter(), name="squatter")
    host.register(Bystander(), name="bystander")
    with caplog.at_level("WARNING", logger="ultra_llm"):
        host.backends()
        host.fail("bystander", "failed, so the backends are collected again")
        specs = host.backends()
    assert specs["mock"].plugin == "mock" and host.resolve_backend_name("off") == "offline"
    assert host.resolve_backend_name("online") == "online" and host.resolve_backend_name("squat-alias") == "squat"
    assert host.records["squatter"].status == "loaded" and host.records["squatter"].backends == ["squat"]
    assert specs["mock"].conflicts == ["'mock' also registered by plugin 'squatter' (its backend), left out"]
    assert specs["offline"].conflicts == [
        "'off' also registered by plugin 'squatter' (an alias of its backend 'squat'), left out"
    ]
    assert specs["squat"].conflicts == [
        "alias 'off' taken by plugin 'standins' (backend 'offline')",
        "alias 'online' taken by plugin 'standins' (backend 'online')",
    ]
    warned = [r.getMessage() for r in caplog.records if r.getMessage().startswith("The backend name")]
    assert len(warned) == 3, warned  # once each, however often the backends are collected
    assert warned[0] == (
        "The backend name 'mock' is registered twice: first by plugin 'mock' (its backend), then by plugin "
        "'squatter' (its backend). The first is kept (plugins load in the order of their entry-point names), "
        "so the backend 'mock' of plugin 'squatter' is left out. Uninstall the plugin you do not want, or skip "
        "it with ULTRA_LLM_DISABLE_PLUGINS=mock or ULTRA_LLM_DISABLE_PLUGINS=squatter."
    )
    assert host.records["squatter"].warnings == warned


def test_the_first_plugin_in_load_order_keeps_a_name_whatever_its_hook_order() -> None:
    class Trylast:  # pluggy lists a trylast implementation first; the load order decides names
        @hookimpl(trylast=True)
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            register("online", OfflineBackend)

    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})
    host.register(ServerStandIns(), name="standins")
    host.register(Trylast(), name="trylast")
    assert host.backend_spec("online").plugin == "standins"
    assert host.records["trylast"].backends == [] and host.records["trylast"].warnings


def test_aliases_resolve() -> None:
    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})
    host.register(ServerStandIns(), name="standins")
    assert host.resolve_backend_name("on-alias") == "online"


def test_register_rejects_a_misnamed_hook_in_process() -> None:
    class Misnamed:
        @hookimpl
        def ultra_llm_generat(self, request):  # type: ignore[no-untyped-def]
            return None

    host = PluginHost()
    with pytest.raises(PluginError) as caught:
        host.register(Misnamed(), name="misnamed")
    assert "unknown hook ultra_llm_generat" in caught.value.message
    assert not host.pm.has_plugin("misnamed")


def test_a_misspelt_hook_suggests_the_right_name() -> None:
    class Misspelt:
        @hookimpl
        def ultra_llm_register_backend(self, register):  # type: ignore[no-untyped-def]
            register("never", "json:dumps")

    host = PluginHost()
    with pytest.raises(PluginError, match="did you mean ultra_llm_register_backends"):
        host.register(Misspelt(), name="misspelt")


def test_an_optional_hook_of_a_later_release_loads_and_its_known_hooks_work() -> None:
    """pluggy's ``optionalhook``: a plugin may implement the next release's hook and still load here."""

    class Forward:
        @hookimpl(optionalhook=True)
        def ultra_llm_hook_of_a_later_release(self) -> None:
            raise AssertionError("a hook this release has no spec for is never called")

        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            register("forward-echo", "json:dumps")

    host = PluginHost()
    host.register(Forward(), name="forward")
    assert host.pm.has_plugin("forward") and host.records["forward"].status == "loaded"
    assert "forward-echo" in host.backends()


def test_an_optional_hook_does_not_hide_a_misspelt_one() -> None:
    class Both:
        @hookimpl(optionalhook=True)
        def ultra_llm_hook_of_a_later_release(self) -> None: ...

        @hookimpl
        def ultra_llm_register_backend(self, register):  # type: ignore[no-untyped-def]
            register("never", "json:dumps")

    host = PluginHost()
    with pytest.raises(PluginError, match="did you mean ultra_llm_register_backends") as caught:
        host.register(Both(), name="both")
    assert "ultra_llm_hook_of_a_later_release" not in caught.value.message


def test_a_0_1_call_hook_fails_the_plugin_with_the_migration() -> None:
    class OldWrapper:
        @hookimpl(wrapper=True)
        def ultra_llm_stream(self, request):  # type: ignore[no-untyped-def]
            return (yield)

        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            register("old-backend", "json:dumps")

    host = PluginHost()
    with pytest.raises(PluginError) as caught:
        host.register(OldWrapper(), name="old")
    message = caught.value.message
    assert "ultra_llm_stream, removed in ultra-llm 0.2" in message
    assert "stream(request, call_next) from ultra_llm_middleware" in message and "Migrating from 0.1" in message
    assert "old-backend" not in host.backends()


def test_invalid_backend_target_is_a_plugin_error() -> None:
    class BadTarget:
        @hookimpl
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]
            register("bad", "no_such_module_ultra:Thing")
            register("notabackend", "json:dumps")

    host = PluginHost()
    host.register(BadTarget(), name="badtarget")
    with pytest.raises(PluginError, match="could not import"):
        host.backend_spec("bad").load()
    with pytest.raises(PluginError, match=r"not a ultra_llm\.Backend"):
        host.backend_spec("notabackend").load()


def test_tracing_reports_every_hook_called_one_plugin_at_a_time() -> None:
    class Models:
        @hookimpl
        def ultra_llm_register_models(self, register):  # type: ignore[no-untyped-def]
            register("mock/extra")

    class NoLayer:  # the middleware hook implemented (no layer), whatever else is installed
        @hookimpl
        def ultra_llm_middleware(self, backend):  # type: ignore[no-untyped-def]
            return None

    lines: list[str] = []
    host = PluginHost()
    host.register(Models(), name="models")
    host.register(NoLayer(), name="no-layer")
    host.enable_tracing(lines.append)
    host.backends()
    assert [m.name for m in host.hooks.register_models("mock")] == ["mock/extra"]
    from ultra_llm import load_config
    from ultra_llm._selection import instantiate

    host.hooks.chain(instantiate(host, "mock", load_config()))
    traced = "".join(lines)
    for hook, plugin in (
        ("ultra_llm_register_backends", "mock"),
        ("ultra_llm_register_models", "models"),
        ("ultra_llm_middleware", "no-layer"),
    ):
        assert f"{hook} (plugin '{plugin}') [hook]" in traced, f"{hook} of {plugin} not traced in {traced!r}"


SHARED_HOOKS = """
from ultra_llm.plugin import hookimpl


@hookimpl
def ultra_llm_register_models(backend, register):
    pass
"""


def test_two_entry_points_naming_one_module_name_both_and_the_way_out(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_distribution(site, "shared_hooks", SHARED_HOOKS, entry_name="alpha")
    info = site / "ultra_llm_test_copy-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ultra-llm-test-copy\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[ultra_llm]\nbeta = shared_hooks\n")
    try:
        host = PluginHost()
        with caplog.at_level("WARNING", logger="ultra_llm"):
            host.load()
        assert host.records["alpha"].status == "loaded"
        assert host.records["beta"].status == "failed"
        assert host.records["beta"].error == (
            "is the module already loaded as plugin 'alpha' (entry point 'alpha = shared_hooks' of "
            "ultra-llm-test-shared-hooks): its entry point 'beta = shared_hooks' names the same module, "
            "and a module is one plugin"
        )
        (warned,) = [r.getMessage() for r in caplog.records if "'beta'" in r.getMessage()]
        assert "keep one of the two entry points" in warned and "ULTRA_LLM_DISABLE_PLUGINS=beta." in warned
        assert "already registered under a different name" not in warned  # pluggy's own words
        with pytest.raises(PluginError, match="already registered as plugin 'alpha': an object is one plugin"):
            host.register(sys.modules["shared_hooks"], name="gamma")
    finally:
        sys.modules.pop("shared_hooks", None)


def test_a_hook_function_without_hookimpl_is_named_with_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    class Unmarked:
        def ultra_llm_register_backends(self, register):  # type: ignore[no-untyped-def]  # no @hookimpl
            register("never", OnlineBackend)

        def ultra_llm_register_model(self, backend, register):  # type: ignore[no-untyped-def]
            pass

        @hookimpl
        def ultra_llm_register_models(self, backend, register):  # type: ignore[no-untyped-def]
            pass

    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})
    with caplog.at_level("WARNING", logger="ultra_llm"):
        host.register(Unmarked(), name="unmarked")
    record = host.records["unmarked"]
    assert record.status == "loaded" and record.hooks == ["ultra_llm_register_models"]
    assert record.warnings == [
        "Plugin 'unmarked' defines ultra_llm_register_backends without @hookimpl, so it is never called: "
        "decorate it with @hookimpl (from ultra_llm.plugin import hookimpl)",
        "Plugin 'unmarked' defines ultra_llm_register_model, named like a hook but neither one nor marked "
        "@hookimpl, so it is never called (did you mean ultra_llm_register_models?); rename it if it is a helper",
    ]
    assert [r.getMessage() for r in caplog.records] == record.warnings
    assert "never" not in host.backends()


def test_exercise_fails_a_plugin_failing_in_a_later_hook_once_with_why(caplog: pytest.LogCaptureFixture) -> None:
    class SyncGenerate:
        def generate(self, request, call_next):  # type: ignore[no-untyped-def]  # not async def
            return call_next(request)

    class LateMiddleware:
        @hookimpl
        def ultra_llm_middleware(self, backend):  # type: ignore[no-untyped-def]
            return SyncGenerate()

    class LateModels:
        @hookimpl
        def ultra_llm_register_models(self, backend, register):  # type: ignore[no-untyped-def]
            raise RuntimeError("no catalogue")

    from ultra_llm import load_config
    from ultra_llm._selection import instantiate

    host = PluginHost(environ={"ULTRA_LLM_LOAD_PLUGINS": "mock"})
    host.register(LateMiddleware(), name="late-middleware")
    host.register(LateModels(), name="late-models")
    backend = instantiate(host, "mock", load_config())
    with caplog.at_level("WARNING", logger="ultra_llm"):
        assert host.hooks.exercise(backend) == []
        host.hooks.exercise(backend)
    assert host.records["late-middleware"].status == "failed"
    assert host.records["late-middleware"].error == (
        "ultra_llm_middleware failed: TypeError: SyncGenerate.generate must be an `async def` method"
    )
    assert host.records["late-models"].error == "ultra_llm_register_models failed: RuntimeError: no catalogue"
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2, warned  # once each, not per call
    assert warned[0].startswith("Plugin 'late-middleware' (unknown distribution) ultra_llm_middleware failed")
