"""ultra-llm-example: a template plugin with a ``shout`` backend and a generation timer.

Keep this module empty of imports: ultra-llm imports ``ultra_llm_example.plugin`` (the entry
point) at start-up, and Python imports this package first.
"""
