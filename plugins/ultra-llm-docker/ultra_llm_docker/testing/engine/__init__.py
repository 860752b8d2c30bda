"""A real llama.cpp engine for the tests: a tiny GGUF model, its server, and a Docker Model Runner proxy.

Importing this package starts nothing. ``ultra_llm_docker.testing.engine.fixtures`` is the pytest plugin.
"""
