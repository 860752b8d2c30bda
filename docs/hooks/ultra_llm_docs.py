"""The parts of the docs generated from the code, committed as Markdown so the pages read as
plain files, and checked against the code so they cannot drift from it.

A page holds a generated block between a marker comment and ``<!-- /ultra-llm -->``, each on a
line of its own:

``<!-- ultra-llm: settings core -->``
    The core variables (``ultra_llm.UltraConfig``).
``<!-- ultra-llm: settings BACKEND -->``
    The variables of an installed backend's ``settings_model`` (``mock``, ``docker-cli`` ...).
``<!-- ultra-llm: settings package.module:Class -->``
    The variables of any other ``ultra_llm.plugin.Settings`` class (the web server's, say).
``<!-- ultra-llm: options BACKEND -->``
    The generation options of an installed backend's ``options_model``: each option, its type and
    allowed values (the field's bounds) and its description (which names the range's source).
``<!-- ultra-llm: errors -->``
    Every typed error of ``ultra_llm.errors``: its parent, meaning and fix.
``<!-- ultra-llm: exit-codes -->``
    The CLI's exit status for each kind of error (each error class's ``exit_code``).
``<!-- ultra-llm: api module:Name -->``, ``<!-- ultra-llm: api module:Name 4 -->``
    A class (docstring, dataclass fields, public methods under headings of that level, 3 by
    default), a function or a type alias (``api_docs``).
``<!-- ultra-llm: hook NAME -->``
    A hookspec's docstring.
``<!-- ultra-llm: cli -->``
    Every ``ultra-llm`` command's help, usage and options (``cli_docs``).

``python docs/hooks/ultra_llm_docs.py`` rewrites the blocks of every page; ``--check`` only says
which pages are stale (``tests/docs/test_generated_docs.py`` runs it). A block is generated from
what is installed, so run it where every shipped distribution is (``pip install -r requirements.txt``).
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
    "main",
    "options_reference",
    "render_markers",
    "stale_pages",
    "setting_rows",
    "settings_reference",
]

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # api_docs and cli_docs, beside this file
MARKER = re.compile(
    r"^<!-- ultra-llm: (?P<kind>settings|options|errors|exit-codes|api|hook|cli)"
    r"(?: (?P<arg>[\w.:-]+))?(?: (?P<level>[2-6]))? -->\n"
    r"(?:(?P<body>(?:(?!^<!-- ultra-llm:).)*?)^<!-- /ultra-llm -->$)?",
    re.MULTILINE | re.DOTALL,
)
END = "<!-- /ultra-llm -->"
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
        # Loud on purpose: the block says so, and the docs tests fail on it.
        log.warning("backend %r is not installed, so its settings are not documented", arg)
        return (
            f'!!! warning "Not generated"\n    The `{arg}` backend was not installed when this site was built, '
            "so its variables are not listed here."
        )
    if model is None:
        return f"The `{arg}` backend reads no variables of its own."
    return settings_reference(model)


# -- options --------------------------------------------------------------------------------------

_KIND_NAMES = {bool: "boolean", int: "integer", float: "number", str: "text", dict: "object", list: "list"}


def _option_kind(annotation: Any) -> str:
    """A field's type in words: ``int | None`` is "integer", ``list[str] | str`` "list of text or text"."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = [_option_kind(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return " or ".join(kinds)
    if origin is typing.Annotated:
        return _option_kind(typing.get_args(annotation)[0])
    if origin is list:
        return f"list of {_option_kind(typing.get_args(annotation)[0])}"
    if origin is dict:
        return "object"
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return "object"
    return _KIND_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _option_bounds(field: Any) -> str:
    """The bounds pydantic checks on a field (``ge``, ``le``, ``min_length`` ...), as ``0 ≤ x ≤ 2``."""
    low = high = ""
    others = []
    for item in field.metadata:
        for attr, symbol in (("ge", "≤"), ("gt", "<")):
            if getattr(item, attr, None) is not None:
                low = f"{_number(getattr(item, attr))} {symbol} "
        for attr, symbol in (("le", "≤"), ("lt", "<")):
            if getattr(item, attr, None) is not None:
                high = f" {symbol} {_number(getattr(item, attr))}"
        if getattr(item, "min_length", None) is not None:
            others.append(f"at least {item.min_length} long")
    bounds = f"{low}x{high}" if low or high else ""
    return ", ".join([part for part in (bounds, *others) if part]) or "any"


def options_reference(model: type[Any]) -> str:
    """A Markdown table of a backend's options model: option, type, allowed values, meaning."""
    lines = ["| Option | Type | Allowed | Meaning (and the range's source) |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        meaning = _markdown_text(field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {_option_kind(field.annotation)} | {_option_bounds(field)} | {meaning} |")
    return "\n".join(lines)


def _options_block(arg: str | None) -> str:
    from ultra_llm import PluginHost

    model = PluginHost(environ={}).backend_spec(str(arg)).load().options_class()
    if model is None:
        return f"The `{arg}` backend takes no generation options."
    return options_reference(model)


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
    """``text`` as Markdown (``api_docs.docstring_markdown``)."""
    from api_docs import docstring_markdown

    return docstring_markdown(text)


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


# -- the blocks -----------------------------------------------------------------------------------


def _generated(kind: str, arg: str | None, level: int) -> str:
    if kind == "errors":
        return errors_reference()
    if kind == "exit-codes":
        return exit_codes_reference()
    if kind == "options":
        return _options_block(arg)
    if kind == "api":
        from api_docs import api_reference

        return api_reference(str(arg), level)
    if kind == "hook":
        from api_docs import docstring_markdown

        return docstring_markdown(hookspecs()[str(arg)].__doc__)
    if kind == "cli":
        from cli_docs import cli_reference

        from ultra_llm._cli.app import build_cli

        return cli_reference(build_cli())
    return _settings_block(arg)


def render_markers(markdown: str) -> str:
    """``markdown`` with every block regenerated (a marker without its end gets one)."""

    def replace(match: re.Match[str]) -> str:
        start = match.group(0).split("\n", 1)[0]
        body = _generated(match["kind"], match["arg"], int(match["level"] or 3))
        new = match["body"] is None  # a marker without its end yet: the line after it stays
        return f"{start}\n{body.rstrip()}\n{END}" + ("\n" if new else "")

    return MARKER.sub(replace, markdown)


def stale_pages(docs: Path = HERE.parent, *, write: bool = False) -> list[str]:
    """The pages under ``docs`` whose blocks differ from the code (rewritten when ``write``)."""
    stale = []
    for page in sorted(docs.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        fresh = render_markers(text)
        if fresh != text:
            stale.append(page.name)
            if write:
                page.write_text(fresh, encoding="utf-8")
    return stale


def main(argv: list[str]) -> int:
    """Rewrite the stale pages (``--check``: list them and exit 1 instead)."""
    check = "--check" in argv
    stale = stale_pages(write=not check)
    for name in stale:
        print(f"{'stale' if check else 'rewrote'}: docs/{name}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
