"""Probes and waits over HTTP at the load balancer: a status, which replica answers, and waiting
until it answers and has reached every replica."""

import http.client
import time

from control.errors import Stop


def request(address, method, path):
    """(status, X-Served-By) of one request to host:port, or (0, "") where nothing answers."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("X-Served-By", "")
    except (OSError, http.client.HTTPException):
        return 0, ""
    finally:
        connection.close()


def wait_served_by_all(address, names, seconds=30):
    """Wait until the load balancer at ADDRESS has reached each of the web replicas NAMES (their
    containers' short ids), through HEADs, which count nothing: nginx finds them by DNS a second
    or two after they are healthy, and a scale ends only once each one serves."""
    missing = set(names)
    deadline = time.monotonic() + seconds
    while missing:
        missing.discard(request(address, "HEAD", "/")[1])
        if missing and time.monotonic() > deadline:
            raise Stop(
                f"the load balancer at {address} did not reach {len(missing)} of the web replicas "
                f"within {seconds} s"
            )
        time.sleep(0.1 if missing else 0)


def wait_ready(address, seconds):
    """Wait until the load balancer answers 200 on /readyz."""
    deadline = time.monotonic() + seconds
    while request(address, "GET", "/readyz")[0] != 200:
        if time.monotonic() > deadline:
            raise Stop(f"the stack did not answer at {address} within {seconds} s (see 'make logs')")
        time.sleep(1)
