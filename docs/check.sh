#!/usr/bin/env bash
# Build and check the documentation, as CI does. Run from anywhere, in the environment that has
# ultra-llm and its plugins installed (`pip install -r requirements.txt`):
#   1. install the pinned doc tools and the example plugin (editable),
#   2. lint, type-check and test the example plugin as its author would (its own pyproject),
#   3. build the site with `mkdocs build --strict` (any warning fails).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
EXAMPLE=docs/examples/ultra-llm-example

echo "== docs: install docs/requirements.txt and the example plugin"
"$PYTHON" -m pip install --quiet -r docs/requirements.txt
"$PYTHON" -m pip install --quiet -e "$EXAMPLE[test]"

echo "== docs: the example plugin (ruff, mypy, its tests)"
"$PYTHON" -m ruff check "$EXAMPLE"
"$PYTHON" -m ruff format --check "$EXAMPLE"
# No MYPYPATH: requirements.txt installs the core in setuptools' strict editable mode, which mypy
# follows from any directory (docs/plugin-authoring.md, "Type-checking against a checkout").
(cd "$EXAMPLE" && "$PYTHON" -m mypy ultra_llm_example tests)
(cd "$EXAMPLE" && "$PYTHON" -m pytest -q -p no:cacheprovider)

echo "== docs: mkdocs build --strict"
NO_MKDOCS_2_WARNING=1 "$PYTHON" -m mkdocs build --strict --site-dir "${SITE_DIR:-site}"
