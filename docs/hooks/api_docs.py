"""Markdown for the Python API, from the code: a class or function's signature and docstring, a
dataclass's fields with their own docstrings, and a class's public methods and properties.

It replaces mkdocstrings, so the committed pages read as plain files (``ultra_llm_docs.py`` writes
them; ``tests/docs/test_generated_docs.py`` checks they match the code).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap
from typing import Any

__all__ = ["api_reference", "docstring_markdown", "field_docs", "resolve", "signature_text"]


def resolve(target: str) -> Any:
    """``"module:Name"`` or ``"module:Name.member"`` -> the object."""
    module_name, _, path = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in path.split("."):
        value = getattr(value, part)
    return value


def docstring_markdown(text: str | None) -> str:
    """A docstring as Markdown: RST's double backticks become single ones, and ``<``/``>`` outside
    code are escaped (they would be read as HTML)."""
    parts = inspect.cleandoc(text or "").replace("``", "`").split("`")
    for index in range(0, len(parts), 2):  # even indexes are outside code spans
        parts[index] = parts[index].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def signature_text(name: str, function: Any) -> str:
    """``name(arg: Type = default, ...) -> Return`` as written in the source (annotations are
    strings under ``from __future__ import annotations``), ``self``/``cls`` left out."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return f"{name}(...)"
    parameters = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
    shown = signature.replace(parameters=parameters)
    return f"{name}{_strip_quotes(str(shown))}"


def _strip_quotes(text: str) -> str:
    """inspect quotes string annotations (``'str'``); the source does not."""
    return text.replace("'", "")


def field_docs(cls: type[Any]) -> dict[str, str]:
    """The attribute docstrings of ``cls``'s body: the string literal right after a field."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    for statement, following in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = following.value.value
    return found


def _cell(text: str) -> str:
    return " ".join(docstring_markdown(text).split()).replace("|", "\\|")


def _fields_table(cls: type[Any]) -> str:
    docs = field_docs(cls)
    rows = ["| Field | Type | Default | Meaning |", "|---|---|---|---|"]
    for field in dataclasses.fields(cls):
        if field.name.startswith("_") or (not field.init and field.name not in docs):
            continue
        if field.default is not dataclasses.MISSING:
            default = f"`{field.default!r}`"
        elif field.default_factory is not dataclasses.MISSING:
            default = f"`{getattr(field.default_factory, '__name__', 'factory')}()`"
        else:
            default = "required"
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        rows.append(f"| `{field.name}` | `{kind}` | {default} | {_cell(docs.get(field.name, ''))} |")
    return "\n".join(rows)


def _members(cls: type[Any], level: int) -> list[str]:
    """Each public method and property ``cls`` itself defines, in source order."""
    parts = []
    heading = "#" * level
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__call__":
            continue
        if isinstance(member, property):
            function = member.fget
            returns = inspect.signature(function).return_annotation if function else inspect.Signature.empty
            shown = name if returns is inspect.Signature.empty else f"{name}: {_strip_quotes(str(returns))}"
            parts.append(f"{heading} `{shown}` (property)\n\n{docstring_markdown(member.__doc__)}\n")
            continue
        kind = ""
        if isinstance(member, classmethod):
            member, kind = member.__func__, " (classmethod)"
        elif isinstance(member, staticmethod):
            member, kind = member.__func__, " (staticmethod)"
        if not inspect.isfunction(member):
            continue
        prefix = "async " if inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member) else ""
        shown = f"{prefix}{signature_text(name, member)}"
        parts.append(f"{heading} `{shown}`{kind}\n\n{docstring_markdown(member.__doc__)}\n")
    return parts


def api_reference(target: str, level: int = 3) -> str:
    """Markdown for ``target`` (``"module:Name"``): for a class, its docstring, its fields when it is
    a dataclass, and its own public methods under headings of ``level``; for a function or a type
    alias, its signature and docstring."""
    value = resolve(target)
    name = target.partition(":")[2]
    if inspect.isclass(value):
        parts = [docstring_markdown(value.__doc__) + "\n"]
        if dataclasses.is_dataclass(value):
            parts.append(_fields_table(value) + "\n")
        parts += _members(value, level)
        return "\n".join(part.rstrip() + "\n" for part in parts).rstrip() + "\n"
    if inspect.isfunction(value):
        prefix = "async " if inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value) else ""
        shown = f"{prefix}{signature_text(name.rsplit('.', 1)[-1], value)}"
        return f"```python\n{shown}\n```\n\n{docstring_markdown(value.__doc__)}\n"
    return _alias_reference(target)


def _alias_reference(target: str) -> str:
    """A module-level name (a type alias, a constant): its assignment as written, in the module
    that makes it (``target`` may name a module that re-exports it), and the string literal after it."""
    import sys

    module_name, _, name = target.partition(":")
    value = resolve(target)
    candidates = [module_name, *sorted(m for m in sys.modules if m.split(".")[0] == module_name.split(".")[0])]
    for candidate in candidates:
        module = sys.modules.get(candidate) or importlib.import_module(candidate)
        if getattr(module, name, None) is not value:
            continue
        tree = ast.parse(source := inspect.getsource(module))
        for statement, following in zip(tree.body, [*tree.body[1:], None], strict=False):
            targets = statement.targets if isinstance(statement, ast.Assign) else []
            if any(isinstance(each, ast.Name) and each.id == name for each in targets):
                written = ast.get_source_segment(source, statement)
                doc = ""
                if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                    doc = docstring_markdown(str(following.value.value))
                return f"```python\n{written}\n```\n\n{doc}\n".rstrip() + "\n"
    raise LookupError(f"{target}: no module assigns {name}")
