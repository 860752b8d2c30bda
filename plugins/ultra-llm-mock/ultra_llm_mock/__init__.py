"""The mock backend for ultra-llm: the reference plugin a third-party author copies."""
