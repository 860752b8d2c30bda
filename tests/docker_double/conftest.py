"""The docker double fixtures are registered for every test directory in tests/conftest.py."""
