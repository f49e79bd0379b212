"""control/: the rules for the settings and the primary, and the command line `make` runs."""

import ast
import os
import subprocess
import sys

import pytest

from control import explain, sentinels, settings
from helpers.support import ROOT


def control(*args, stdin="", env=None, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "control", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **(env or {})},
    )


# Every form of a .env line that Compose reads (tests/e2e/test_dotenv.py has Compose read it too).
DOTENV = "\n".join(
    [
        "# a comment",
        "",
        "A=plain",
        "export B=exported",
        'C="double # not a comment"',
        "D='single $A \\n'",
        "E=unquoted # a comment",
        "F=with#hash",
        'G="escaped \\" quote \\n new line"',
        "H=${A}-$A-${UNSET:-fallback}-${EMPTY-kept}",
        "  I = spaced  ",
        "J=",
        "K='two",
        "lines'",
        "L=last",
    ]
)


def test_dotenv_is_read_with_compose_s_rules_for_quotes_comments_and_export():
    assert settings.parse_dotenv(DOTENV, environ={"EMPTY": ""}) == {
        "A": "plain",
        "B": "exported",
        "C": "double # not a comment",
        "D": "single $A \\n",
        "E": "unquoted",
        "F": "with#hash",
        "G": 'escaped " quote \n new line',
        "H": "plain-plain-fallback-",
        "I": "spaced",
        "J": "",
        "K": "two\nlines",
        "L": "last",
    }


def test_a_line_that_is_not_a_setting_is_refused_in_one_line():
    with pytest.raises(
        settings.SettingError, match=r"^.env has a line that is not NAME=VALUE: 'REDIS MODE'$"
    ):
        settings.parse_dotenv("REDIS MODE\n", environ={})


def test_the_environment_comes_first_then_dotenv_then_the_default(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text('REDIS_MODE="sentinel"\nREDIS_TLS=off\n')
    assert settings.setting("REDIS_MODE", environ={}, dotenv=dotenv) == "sentinel"
    assert settings.setting("REDIS_MODE", environ={"REDIS_MODE": "single"}, dotenv=dotenv) == "single"
    assert settings.setting("REDIS_MODE", environ={"REDIS_MODE": ""}, dotenv=dotenv) == "sentinel"
    # Swarm's default for REDIS_TLS is on: .env's off wins over it, as the environment's would.
    assert settings.setting("REDIS_TLS", "on", environ={}, dotenv=dotenv) == "off"
    assert settings.setting("REDIS_TLS", "on", environ={}, dotenv=tmp_path / "none") == "on"
    assert settings.setting("REDIS_MODE", environ={}, dotenv=tmp_path / "none") == "single"


def test_a_value_outside_its_choices_is_refused_naming_the_setting(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("REDIS_MODE=cluster\n")
    with pytest.raises(
        settings.SettingError, match=r"^REDIS_MODE must be single or sentinel, got 'cluster'$"
    ):
        settings.setting("REDIS_MODE", environ={}, dotenv=dotenv)


@pytest.mark.parametrize(
    "named, primary",
    [
        (["redis-1", "redis-1", "redis-1"], "redis-1"),
        (["redis-2", "redis-2", "redis-1"], "redis-2"),  # one back from a lost node names the old one
        (["redis-1", "redis-2", ""], None),  # no majority: no answer yet
        (["redis-2", "redis-2"], "redis-2"),  # two of three answered and agree
        (["redis-2", ""], None),  # one of three is not a majority
        (["", "", ""], None),
    ],
)
def test_the_primary_is_the_one_a_strict_majority_of_the_sentinels_name(named, primary):
    assert sentinels.primary(named, 3) == primary
    # The same rule inside the Redis image, for start-redis.sh and switch-primary.sh.
    done = subprocess.run(
        ["sh", "-c", '. "$0" && majority 3', ROOT / "redis/majority.sh"],
        input="".join(f"{name}\n" for name in named if name),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == (f"{primary}\n" if primary else "")


def test_the_command_line_gives_a_setting_and_refuses_in_one_line(tmp_path):
    (tmp_path / ".env").write_text("export REDIS_MODE='sentinel' # as Compose reads it\n")
    done = control("setting", "REDIS_MODE", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert (done.returncode, done.stdout) == (0, "sentinel\n")
    done = control("setting", "REDIS_TLS", env={"REDIS_TLS": "yes"})
    assert (done.returncode, done.stderr) == (1, "REDIS_TLS must be on or off, got 'yes'\n")
    assert control("nonsense").returncode == 2


def test_the_package_runs_on_python_3_9():
    for path in (ROOT / "control").glob("*.py"):
        ast.parse(path.read_text(), str(path), feature_version=(3, 9))


@pytest.mark.parametrize(
    "environ, replicas",
    [
        ({}, 3),
        ({"SCALE": "5"}, 5),
        ({"SCALE": "70", "MAX_SCALE": "80"}, 70),
        ({"SCALE": "1", "MAX_SCALE": ""}, 1),
    ],
)
def test_web_replicas_is_scale_within_max_scale_or_the_default(environ, replicas):
    assert settings.web_replicas(environ=environ) == replicas


@pytest.mark.parametrize(
    "environ, refusal",
    [
        ({}, "say how many web replicas: make scale SCALE=N (1 to 64)"),
        ({"SCALE": "65"}, "SCALE must be a whole number from 1 to 64, got '65'"),
        ({"SCALE": ""}, "SCALE must be a whole number from 1 to 64, got ''"),
        ({"SCALE": "2", "MAX_SCALE": "0"}, "MAX_SCALE must be a whole number from 1 to 1000, got '0'"),
    ],
)
def test_web_replicas_refuses_in_one_line(environ, refusal):
    with pytest.raises(settings.SettingError) as refused:
        settings.web_replicas("make scale", environ=environ)
    assert str(refused.value) == refusal


def test_a_failed_build_names_its_service_and_its_error_s_first_lines():
    buildkit = [
        "#8 [web 3/5] RUN pip install nothing-such",
        "------",
        " > [web 3/5] RUN pip install nothing-such:",
        "1.234 ERROR: Could not find a version that satisfies the requirement nothing-such",
        "1.240 ERROR: No matching distribution found for nothing-such",
        "------",
        "failed to solve: process did not complete successfully: exit code: 1",
    ]
    assert explain.failed_build(buildkit) == (
        "web",
        "ERROR: Could not find a version that satisfies the requirement nothing-such; "
        "ERROR: No matching distribution found for nothing-such",
    )
    classic = [
        " Service redis  Building",
        "Step 3/7 : RUN apk add nothing-such",
        "\x1b[91mERROR: unable to select packages:\x1b[0m",
        "\x1b[91m\x1b[0m",
        "The command '/bin/sh -c apk add nothing-such' returned a non-zero code: 1",
    ]
    assert explain.failed_build(classic) == ("redis", "ERROR: unable to select packages:")
    # Compose's lines come on another stream than the builder's, in no telling order, and it
    # starts several services' builds: the one that failed had not built, and has the command.
    interleaved = [
        "Step 6/10 : RUN pip install -r requirements.txt",
        "\x1b[91m/bin/sh: 1: pip: not found",
        " Service smallest  Building",
        " Service sentinel-1  Building",
        " Service sentinel-1  Built",
        " Service web  Building",
        " Service redis  Building",
        "The command '/bin/sh -c pip install -r requirements.txt' returned a non-zero code: 127",
    ]
    files = {
        "smallest": "RUN pip install flask",
        "web": "RUN pip install -r requirements.txt",
        "redis": "COPY x y",
    }
    assert explain.failed_build(interleaved, files) == ("web", "/bin/sh: 1: pip: not found")
    assert explain.failed_build(interleaved)[0] == "redis"  # without the Dockerfiles: the last not built
    assert explain.failed_build(["Error response from daemon: port is already allocated"]) == (None, None)
