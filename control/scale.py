"""`make scale`: the running stack's web tier changed to SCALE replicas, the others serving
throughout. Only web changes: no rebuild, running replicas are kept, leaving ones finish their
requests; it ends once nginx has reached every replica."""

from control import docker, probes, settings
from control.compose import Compose
from control.errors import Stop
from control.explain import or_explain, quiet_or_explain
from control.say import say


def scale_web(compose, replicas, quiet=False):
    """Web at REPLICAS, each healthy and reached through the load balancer; with `quiet`,
    Compose's output is shown only if it fails (the autoscaler's log says one line instead)."""
    (quiet_or_explain if quiet else or_explain)(
        compose,
        f"scaling web to {replicas} replicas",
        *("up", "--detach", "--no-build", "--no-deps", "--no-recreate"),
        *("--scale", f"web={replicas}", "--wait", "web"),
    )
    probes.wait_served_by_all(compose.lb_address(), [name[:12] for name in compose.running("web")])


def main(environ):
    compose = Compose(environ)
    replicas = settings.web_replicas("make scale", compose.environ)
    docker.require_docker()
    compose.require_running_stack()
    if compose.containers("autoscaler"):
        raise Stop(
            "the autoscaler sets web's size: change its bounds with 'make up AUTOSCALE=MIN-MAX', "
            "or stop it with 'make up AUTOSCALE=off SCALE=N'"
        )
    say(f"scaling web to {replicas} replicas")
    scale_web(compose, replicas)
    say(f"web now has {len(compose.running('web'))} running replicas, each one serving")
