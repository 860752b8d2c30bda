"""A real llama.cpp engine for the tests: a tiny GGUF model, its server, and a Docker Model Runner proxy.

Also a canned engine (``canned_engine.CannedEngine``: llama-server's chat shapes, instant, any model)
and a runner double with memory over it (``memory_runner.runner_with_memory``: slots, load time,
eviction, load counters), for tests and benchmarks that need no real engine.

Importing this package starts nothing. ``ultra_llm_docker.testing.engine.fixtures`` is the pytest plugin.
"""
