"""`make offline-images`: stand-ins for the official python, nginx and redis images, and for the
monitoring images (prometheus and the nginx and redis exporters), built from Debian's packages
for hosts that cannot pull from a registry; .env is then pointed at them."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from control import docker
from control.errors import Stop
from control.say import say

STANDINS = {
    "python": "PYTHON_IMAGE",
    "nginx": "NGINX_IMAGE",
    "redis": "REDIS_IMAGE",
    "prometheus": "PROMETHEUS_IMAGE",
    "nginx-exporter": "NGINX_EXPORTER_IMAGE",
    "redis-exporter": "REDIS_EXPORTER_IMAGE",
}


def main(environ):
    suite = environ.get("STANDIN_SUITE") or "sid"  # sid: nginx new enough for upstream `resolve`
    mirror = environ.get("DEBIAN_MIRROR") or "http://deb.debian.org/debian"
    ca_bundle = Path(environ.get("HOST_CA_BUNDLE") or "/etc/ssl/certs/ca-certificates.crt")
    base = f"counter-standin/debian:{suite}"
    if shutil.which("docker") is None:
        raise Stop("Docker is not installed: see README.md, Prerequisites")
    if docker.run("docker", "info", check=False).returncode != 0:
        raise Stop("the Docker engine does not answer: start it (dockerd or Docker Desktop)")
    if not os.access(ca_bundle, os.R_OK):
        raise Stop(f"no CA bundle at {ca_bundle} (set HOST_CA_BUNDLE)")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if docker.run("docker", "image", "inspect", base, check=False).returncode == 0:
            say(f"reusing {base}")
        else:
            debian(suite, mirror, base, work)
        for dockerfile in Path("scripts/standin").glob("*.Dockerfile"):
            shutil.copy(dockerfile, work)
        shutil.copy(ca_bundle, work / "host-ca.crt")
        for name in STANDINS:
            say(f"building counter-standin/{name}")
            built = docker.run(
                *(
                    "docker",
                    "build",
                    "--quiet",
                    "--build-arg",
                    f"BASE={base}",
                    "-f",
                    str(work / f"{name}.Dockerfile"),
                ),
                *("-t", f"counter-standin/{name}:latest", str(work)),
                check=False,
            )
            if built.returncode != 0:
                print("\n".join(built.stderr.splitlines()[-30:]), file=sys.stderr)
                raise Stop(f"building counter-standin/{name} failed")
    point_dotenv_at_standins(Path(".env"))
    say("stand-in images ready; .env now points the *_IMAGE variables at them")


def debian(suite, mirror, base, work):
    """Debian's SUITE, bootstrapped and imported as the image BASE."""
    if shutil.which("debootstrap") is None:
        raise Stop(
            "debootstrap is not installed: install it (apt-get install debootstrap), "
            "then run 'make offline-images' again"
        )
    if os.getuid() != 0:
        raise Stop("making the Debian base image needs root: run 'sudo make offline-images'")
    say(f"debootstrap {suite} (about a minute)")
    rootfs = work / "rootfs"
    done = subprocess.run(
        ["debootstrap", "--variant=minbase", suite, str(rootfs), mirror], capture_output=True, text=True
    )
    if done.returncode != 0:
        print("\n".join((done.stdout + done.stderr).splitlines()[-20:]), file=sys.stderr)
        raise Stop(f"debootstrap of {suite} failed")
    if not docker.piped(["tar", "-C", str(rootfs), "-c", "."], ["docker", "import", "-", base]):
        raise Stop(f"importing {suite} as {base} failed")
    shutil.rmtree(rootfs)


def point_dotenv_at_standins(dotenv):
    """Compose reads .env: from now on `make up` uses the stand-ins."""
    if not dotenv.exists():
        shutil.copy(".env.example", dotenv)
    text = dotenv.read_text()
    for name, setting in STANDINS.items():
        line = f"{setting}=counter-standin/{name}"
        text, found = re.subn(rf"^{setting}=.*$", line, text, flags=re.M)
        if not found:
            text += ("" if text.endswith("\n") or not text else "\n") + line + "\n"
    dotenv.write_text(text)
