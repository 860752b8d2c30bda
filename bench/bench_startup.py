"""Start-up against ``python -c "import pluggy, pydantic, click"`` (the floor), in one run.

Limits (issue 13): ``ultra-llm --help`` and ``ultra-llm plugins --json`` at most 1.5x the floor;
``ultra-llm generate hello`` on the mock (settings read, backend chosen and checked, an answer) at
most 2.5x. ``import ultra_llm`` is reported beside them. Rounds interleave the commands, so a load
that comes and goes touches each alike.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from .runner import Measurement, case, measure_command

SCRIPT = str(Path(sys.executable).with_name("ultra-llm"))


@case("startup")
def startup() -> list[Measurement]:
    commands = {
        "floor": [sys.executable, "-c", "import pluggy, pydantic, click"],
        "plugins": [SCRIPT, "plugins", "--json"],
        "help": [SCRIPT, "--help"],
        "generate": [SCRIPT, "generate", "hello"],
        "import": [sys.executable, "-c", "import ultra_llm"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(3):
        for name, argv in commands.items():
            samples[name].append(measure_command(argv, repeat=5))
    median = {name: statistics.median(values) for name, values in samples.items()}
    base, floor = "import pluggy, pydantic, click", median["floor"]
    return [
        Measurement("startup", "ultra-llm plugins --json", median["plugins"], base, floor, limit=1.5),
        Measurement("startup", "ultra-llm --help", median["help"], base, floor, limit=1.5),
        Measurement("startup", "ultra-llm generate hello (mock)", median["generate"], base, floor, limit=2.5),
        Measurement("startup", "import ultra_llm", median["import"], base, floor),
    ]
