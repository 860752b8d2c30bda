"""MkDocs hook: the parts of the site generated from the code, so they cannot drift from it.

A page asks for generated Markdown with a marker comment on a line of its own:

``<!-- ultra-llm: settings core -->``
    The core variables (``ultra_llm._config.UltraConfig``).
``<!-- ultra-llm: settings BACKEND -->``
    The variables of an installed backend's ``settings_model`` (``mock``, ``docker-cli`` ...).
``<!-- ultra-llm: settings package.module:Class -->``
    The variables of any other ``ultra_llm._settings.Settings`` class (the web server's, say).
``<!-- ultra-llm: errors -->``
    Every typed error of ``ultra_llm.errors``: its parent, meaning and fix.
``<!-- ultra-llm: exit-codes -->``
    The CLI's exit status for each kind of error (each error class's ``exit_code``).

The functions are plain so ``tests/docs`` can call them; ``on_config`` also puts this folder on
``sys.path`` so the ``mkdocs-click`` extension can import ``cli_app`` (the click app, built once).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "ERROR_MARKER",
    "MARKER",
    "error_classes",
    "errors_reference",
    "example_fix",
    "exit_codes_reference",
    "hookspec_signature",
    "hookspecs",
    "render_markers",
    "setting_rows",
    "settings_reference",
]

HERE = Path(__file__).resolve().parent
MARKER = re.compile(r"^<!-- ultra-llm: (?P<kind>settings|errors|exit-codes)(?: (?P<arg>[\w.:-]+))? -->$", re.MULTILINE)
ERROR_MARKER = "<!-- ultra-llm: errors -->"
log = logging.getLogger("mkdocs.plugins.ultra_llm_docs")


# -- settings ---------------------------------------------------------------------------------------


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{value}`"


def _allowed(field: Any) -> str:
    """Allowed values: a Literal's choices, or a numeric range from the setting's bounds."""
    import typing

    choices = [str(arg) for arg in typing.get_args(field.kind) if isinstance(arg, str)]
    if typing.get_origin(field.kind) is typing.Literal and choices:
        return " Allowed: " + ", ".join(f"`{choice}`" for choice in choices) + "."
    spec = field.spec
    bounds = [
        f"{symbol} {value:g}" for symbol, value in ((">", spec.gt), ("≥", spec.ge), ("≤", spec.le)) if value is not None
    ]
    return f" Must be {' and '.join(bounds)}." if bounds else ""


def _alias_note(alias: Any) -> str:
    unit = " (milliseconds)" if alias.scale == 0.001 else ""
    return f"<br>(or `{alias.name}`{unit}{', deprecated' if alias.deprecated else ''})"


def setting_rows(model: type[Any]) -> list[tuple[str, str, str]]:
    """``(variable cell, default, meaning)`` for each setting of an ``ultra_llm._settings.Settings`` class."""
    rows = []
    for field in model.fields():
        variable = f"`{field.variable}`" + "".join(_alias_note(alias) for alias in field.aliases)
        rows.append((variable, _default(field.default), field.spec.help.strip() + _allowed(field)))
    return rows


def settings_reference(model: type[Any]) -> str:
    """A Markdown table of ``model``'s variables: variable (and aliases), default, effect."""
    lines = ["| Variable | Default | Effect |", "|---|---|---|"]
    for variable, default, meaning in setting_rows(model):
        escaped = _markdown_text(meaning).replace("|", "\\|")
        lines.append(f"| {variable} | {default} | {escaped} |")
    return "\n".join(lines)


def _backend_settings(name: str) -> type[Any] | None:
    """The ``settings_model`` of the installed backend ``name`` (``None`` when it has none)."""
    from ultra_llm import PluginHost

    host = PluginHost(environ={})
    return host.backend_spec(name).load().settings_model


def _settings_block(arg: str | None) -> str:
    if arg in (None, "core"):
        from ultra_llm import UltraConfig

        return settings_reference(UltraConfig)
    if ":" in arg:
        # An optional package (a plugin that is not a backend, an extra): when it is not installed
        # the section says so instead of failing the build.
        module_name, _, class_name = arg.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            log.info("%s is not importable (%s); its settings are not documented", module_name, exc)
            return (
                f'!!! note "Not generated"\n    `{module_name}` was not installed when this site was built, '
                "so its variables are not listed here."
            )
        return settings_reference(getattr(module, class_name))
    from ultra_llm.errors import BackendNotFoundError

    try:
        model = _backend_settings(arg)
    except BackendNotFoundError:
        # Loud on purpose: under `mkdocs build --strict` a missing plugin fails the build.
        log.warning("backend %r is not installed, so its settings are not documented", arg)
        return (
            f'!!! warning "Not generated"\n    The `{arg}` backend was not installed when this site was built, '
            "so its variables are not listed here."
        )
    if model is None:
        return f"The `{arg}` backend reads no variables of its own."
    return settings_reference(model)


# -- errors ---------------------------------------------------------------------------------------


def error_classes() -> list[type[Exception]]:
    """Every error class ``ultra_llm.errors`` exports, root first, in declaration order, then the
    Docker backends' own (``ultra_llm_docker.errors``)."""
    from ultra_llm_docker import errors as docker_errors

    from ultra_llm import errors

    ordered: list[type[Exception]] = []
    for module in (errors, docker_errors):
        classes = [getattr(module, name) for name in module.__all__]
        found = [cls for cls in classes if isinstance(cls, type) and issubclass(cls, errors.UltraLLMError)]
        ordered += sorted(found, key=lambda cls: inspect.getsourcelines(cls)[1])
    return ordered


def example_fix(cls: type[Exception]) -> str:
    """The fix an instance of ``cls`` carries, built with placeholder arguments (``<model>`` ...)."""
    arguments: dict[str, Any] = {}
    positional: list[Any] = []
    for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if param.default is not inspect.Parameter.empty or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        placeholder = f"<{param.name}>"
        if param.kind is param.KEYWORD_ONLY:
            arguments[param.name] = placeholder
        else:
            positional.append(placeholder)
    return str(cls(*positional, **arguments).fix)  # type: ignore[attr-defined]


def _markdown_text(text: str) -> str:
    """``text`` with RST double backticks made Markdown, and ``<``/``>`` outside code escaped."""
    parts = text.replace("``", "`").split("`")
    for index in range(0, len(parts), 2):  # even indexes are outside code spans
        parts[index] = parts[index].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def errors_reference() -> str:
    """One section per typed error: its place in the hierarchy, what it means, and the fix."""
    parts = []
    for cls in error_classes():
        parents = ", ".join(f"`{base.__name__}`" for base in cls.__bases__)
        doc = _markdown_text(inspect.cleandoc(cls.__doc__ or ""))
        fix = _markdown_text(example_fix(cls))
        parts.append(f"### `{cls.__name__}`\n\n*Subclass of {parents}.* {doc}\n\n**Fix:** {fix}\n")
    return "\n".join(parts)


def exit_codes_reference() -> str:
    """A Markdown table of the CLI's exit statuses, from the error classes' own ``exit_code``."""
    lines = ["| Exit status | When |", "|---|---|", "| `0` | Success. |"]
    setters = [cls for cls in error_classes() if "exit_code" in vars(cls) and cls.exit_code != 1]
    for cls in sorted(setters, key=lambda c: c.exit_code):
        lines.append(f"| `{cls.exit_code}` | `{cls.__name__}` (and its subclasses) |")
    lines += [
        "| `1` | Any other ultra-llm error, or a failed `doctor` check. |",
        "| `2` | Also a usage error (an unknown option or command). |",
        "| `130` | Interrupted (Ctrl-C). |",
    ]
    return "\n".join(lines)


# -- hookspecs --------------------------------------------------------------------------------------


def hookspecs() -> dict[str, Any]:
    """Every hookspec function of ``ultra_llm._hookspecs`` by name."""
    from ultra_llm import _hookspecs as module

    marker = f"{module.PROJECT_NAME}_spec"
    return {name: func for name, func in vars(module).items() if inspect.isfunction(func) and hasattr(func, marker)}


def hookspec_signature(func: Any) -> str:
    """``name(arg: Type, ...) -> Return`` exactly as written in the source (annotations unevaluated)."""
    signature = inspect.signature(func)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{func.__name__}({params}) -> {signature.return_annotation}"


# -- MkDocs events ----------------------------------------------------------------------------------


def render_markers(markdown: str) -> str:
    """Replace every marker in ``markdown`` with its generated Markdown."""

    def replace(match: re.Match[str]) -> str:
        if match["kind"] == "errors":
            return errors_reference()
        if match["kind"] == "exit-codes":
            return exit_codes_reference()
        return _settings_block(match["arg"])

    return MARKER.sub(replace, markdown)


def on_config(config: Any) -> Any:
    """Make ``cli_app`` (next to this file) importable for ``mkdocs-click``."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return config


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Fill the page's markers."""
    return render_markers(markdown)
