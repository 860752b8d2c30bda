"""What the two Docker Model Runner plugins share, and the only place the core names Docker.

``ultra_llm.docker.names``: Docker's model-reference grammar (``smollm2`` = ``ai/smollm2:latest``).
``ultra_llm.docker.errors``: the errors only a Docker backend raises, with Docker's fixes.
Nothing else in ``ultra_llm`` knows Docker; a third-party backend never needs this package.
"""
