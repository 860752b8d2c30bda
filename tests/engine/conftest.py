"""The real engine fixtures are registered for every test directory in tests/conftest.py."""
