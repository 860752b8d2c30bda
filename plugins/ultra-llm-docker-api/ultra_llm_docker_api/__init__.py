"""ultra-llm backend ``docker-api``: Docker Model Runner's HTTP API, or any OpenAI-compatible server.

Modules, one job each: ``plugin`` (the entry point; registers the backend by name, imports
nothing heavy), ``settings`` (environment variables and the endpoint they describe), ``parsing``
(pure SSE / NDJSON / JSON-shape parsers), ``error_map`` (HTTP status and body -> typed errors),
``transport`` (the pooled HTTP client: timeouts, retries, size caps), ``options`` (the generation
options model) and ``backend`` (the ``Backend`` subclass tying them together).
"""
