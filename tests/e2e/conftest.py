"""End-to-end fixtures: each test gets its own Compose project on a free port, always torn down.

Outside CI these tests skip, with the reason, when no Docker engine or Compose v2 answers;
with CI=true they fail instead, so a CI run can never pass without them.
"""

import os
import subprocess

import pytest

from helpers.stack import PREFIX, Stack


def docker_problem():
    """Why the stack cannot run here, or None."""
    for command, problem in (
        (["docker", "info"], "no Docker engine answers"),
        (["docker", "compose", "version"], "Compose v2 ('docker compose') is missing"),
    ):
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return problem
    return None


@pytest.fixture(scope="session")
def docker():
    problem = docker_problem()
    if problem is None:
        yield
        subprocess.run(
            f"docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep '^{PREFIX}' "
            "| xargs -r docker rmi -f",
            shell=True,
            capture_output=True,
        )
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"end-to-end tests must run in CI, but {problem}")
    pytest.skip(f"{problem}: start Docker with Compose v2 to run the end-to-end tests")


@pytest.fixture
def stack(docker):
    stack = Stack()
    yield stack
    stack.down()


@pytest.fixture(scope="module")
def shared_stack(docker):
    """One stack for a module of tests that each leave the count as they found it."""
    stack = Stack()
    stack.make("up", "SCALE=2")
    yield stack
    stack.down()


@pytest.fixture(scope="module")
def three_replicas(shared_stack):
    """The module's shared stack, at three replicas."""
    shared_stack.make("scale", "SCALE=3")
    return shared_stack
