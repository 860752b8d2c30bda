"""The Docker Model Runner family: what the ``docker-cli`` and ``docker-api`` backends share.

``ultra_llm_docker.names``: Docker's model-reference grammar (``smollm2`` = ``ai/smollm2:latest``).
``ultra_llm_docker.errors``: the errors only a Docker backend raises, with Docker's fixes.
``ultra_llm_docker.lifecycle``: the runner's ``_configure`` answer and its keep-alive grammar.
``ultra_llm_docker.compat``: the seed's factories and classes, for Ultra.
``ultra_llm_docker.settings``: the seed's selection variables (``USE_MODEL_RUNNER``, ``MODEL_RUNNER_TYPE``).
Importing this package is cheap: it holds only the contract below.
"""

from __future__ import annotations

__all__ = ["KERNEL_CONTRACT"]

KERNEL_CONTRACT = ">=0.4,<0.5"
"""The ultra-llm kernel versions this family was built for (``ULTRA_LLM_CONTRACT`` of its plugin
modules): the host refuses the family, and the two Docker backends, under any other kernel."""
