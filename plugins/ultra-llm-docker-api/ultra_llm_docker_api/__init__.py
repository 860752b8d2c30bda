"""ultra-llm backend ``docker-api``: Docker Model Runner's HTTP API, or any OpenAI-compatible server.

Modules, one job each: ``plugin`` (the entry point; registers the backend by name, imports
nothing heavy), ``settings`` (environment variables and the endpoint they describe), ``parsing``
(pure NDJSON / JSON-shape parsers), ``server_kind`` (DMR, llama-server or another server),
``error_map`` (HTTP status and body -> typed errors), ``faults`` (an attempt's failure and its
flags), ``transport`` (one attempt over the pooled HTTP client: deadlines, size caps),
``request_path`` (the one attempt loop: resend, wait, fail over, back off), ``pool`` (several
endpoints: choice, ejection, health checks), ``model_check`` (the answering model is the one
asked for), ``streaming`` (a streamed answer as chunks), ``options`` (the generation options
model) and ``backend`` (the ``Backend`` subclass tying them together).
"""
