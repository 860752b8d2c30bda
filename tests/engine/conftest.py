"""The real-engine fixtures for these tests (the plugin module lives in tests/support/engine)."""

from tests.support.engine.fixtures import dmr_runner, real_engine

__all__ = ["dmr_runner", "real_engine"]
