"""Docker and Compose through their command lines, read as JSON where they print something to
read: the only place the package starts them."""

import json
import os
import shutil
import subprocess
import sys

from control.errors import Stop


def run(*args, check=True, env=None, stdin=None):
    """`args` run quietly (given `stdin`, a string): its CompletedProcess (text); with `check`, a
    Stop if it fails, with its last line of errors."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, input=stdin)
    if check and done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise Stop(f"{' '.join(args[:3])} failed: {last}")
    return done


def shown(*args, env=None):
    """`args` run with their output shown as it comes (on standard output, both streams) and
    kept: (exit code, the lines)."""
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
    )
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    return process.wait(), lines


def quietly(what, *args, env=None):
    """`args` run quietly; if they fail, their last lines, and a Stop saying WHAT failed."""
    done = run(*args, check=False, env=env)
    if done.returncode != 0:
        print("\n".join((done.stdout + done.stderr).splitlines()[-15:]), file=sys.stderr, flush=True)
        raise Stop(f"{what} failed (its last lines are above)")
    return done


def passed(*args, env=None):
    """`args` run with their output passed on as it comes: the exit code."""
    return subprocess.run(args, env=env).returncode


def json_lines(text):
    """Objects printed as a JSON array, or one JSON object a line (Compose's `ps --format json`
    has printed both)."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def require_docker():
    """Docker installed, its engine answering, and Compose v2: or the one that is missing."""
    if shutil.which("docker") is None:
        raise Stop("Docker is not installed: see README.md, Prerequisites")
    if run("docker", "info", check=False).returncode != 0:
        raise Stop("the Docker engine does not answer: start it (dockerd or Docker Desktop)")
    if run("docker", "compose", "version", check=False).returncode != 0:
        raise Stop("Compose v2 is missing: 'docker compose' does not work (install the compose plugin)")


def environment(**extra):
    return {**os.environ, **extra}


def piped(first, second, env=None):
    """`first`'s output into `second`, both quietly: whether both succeeded."""
    sender = subprocess.Popen(first, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    receiver = subprocess.run(second, stdin=sender.stdout, capture_output=True, env=env)
    sender.stdout.close()
    return sender.wait() == 0 and receiver.returncode == 0


def free_network(prefix, env=None):
    """The first three numbers of a /24 under PREFIX (two numbers, such as 10.210) that Docker takes
    for a new network now. Each is tried for real: an engine can hold an address range that no
    network it lists uses."""
    probe = f"counter-free-network-{os.getpid()}"
    for n in range(1, 255):
        created = run("docker", "network", "create", "--internal", "--subnet", f"{prefix}.{n}.0/24", probe,
                      check=False, env=env)  # fmt: skip
        if created.returncode == 0:
            run("docker", "network", "rm", probe, env=env)
            return f"{prefix}.{n}"
    raise Stop(f"no {prefix}.N.0/24 is free for a Docker network")
