"""Compose itself reads a .env as control/settings.py does: the rule `make` uses for the settings
it reads (REDIS_MODE, REDIS_TLS) is Compose's, so that a .env Compose accepts means the same to both."""

import json
import os
import subprocess

import pytest

from control.settings import parse_dotenv
from tests.unit.test_control import DOTENV

pytestmark = pytest.mark.e2e


def test_compose_reads_every_form_of_a_dotenv_line_as_the_control_plane_does(docker, tmp_path):
    (tmp_path / ".env").write_text(DOTENV)
    ours = parse_dotenv(DOTENV, environ={"EMPTY": ""})
    environment = {name: "${" + name + "}" for name in ours}
    compose = {"services": {"probe": {"image": "probe", "environment": environment}}}
    (tmp_path / "compose.yml").write_text(json.dumps(compose))
    done = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=tmp_path,
        env={**os.environ, "EMPTY": "", "COMPOSE_PROJECT_NAME": "probe"},
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(done.stdout)["services"]["probe"]["environment"]
    # Compose writes a literal $ of a value as $$ in the configuration it prints.
    assert {name: value.replace("$$", "$") for name, value in theirs.items()} == ours
