"""Start-up: ``ultra-llm plugins --json`` against ``python -c "import pluggy, pydantic, click"`` (issue 2).

Limit: at most 2x the floor. Also reports ``--help`` and ``import ultra_llm`` beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .runner import Measurement, case, measure_command

SCRIPT = str(Path(sys.executable).with_name("ultra-llm"))


@case("startup")
def startup() -> list[Measurement]:
    floor = measure_command([sys.executable, "-c", "import pluggy, pydantic, click"], repeat=11)
    plugins = measure_command([SCRIPT, "plugins", "--json"], repeat=11)
    helps = measure_command([SCRIPT, "--help"], repeat=11)
    imports = measure_command([sys.executable, "-c", "import ultra_llm"], repeat=11)
    base = "import pluggy, pydantic, click"
    return [
        Measurement("startup", "ultra-llm plugins --json", plugins, base, floor, limit=2.0),
        Measurement("startup", "ultra-llm --help", helps, base, floor, limit=2.0),
        Measurement("startup", "import ultra_llm", imports, base, floor),
    ]
