"""The ``ultra-llm`` click app as a module attribute, for the ``mkdocs-click`` extension.

``ultra_llm._cli`` builds its app in a function (nothing at import); ``mkdocs-click`` needs an
object to import, so the docs build makes one here. The CLI reference is generated from it.
"""

from __future__ import annotations

from ultra_llm._cli.app import build_cli

cli = build_cli()
