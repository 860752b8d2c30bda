"""Docker Model Runner through the ``docker model`` CLI: the ``docker-cli`` backend of ultra-llm.

Modules, one job each: ``plugin`` (entry point, registers the backend by name), ``settings``
(environment variables), ``parsers`` (pure functions over the CLI's text), ``run_output`` (the
incremental parser of ``docker model run`` output), ``failures`` (CLI failures to typed errors),
``process`` (subprocess lifecycle) and ``backend`` (the ``Backend`` class). Importing this package
imports nothing else.
"""
