"""``python -m bench [CASE ...]``: run the benchmarks and print medians and ratios."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from .runner import CASES, run_cases


def main(argv: list[str]) -> int:
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("bench_"):
            importlib.import_module(f"bench.{module.name}")
    if argv and argv[0] in ("-l", "--list"):
        print("\n".join(CASES))
        return 0
    unknown = [name for name in argv if name not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    results = run_cases(argv or None)
    return 1 if any(m.ok is False for m in results) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
