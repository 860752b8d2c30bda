"""Fixtures of the docker double for its own tests."""

from tests.support.docker_double.fixtures import docker_double, no_docker

__all__ = ["docker_double", "no_docker"]
