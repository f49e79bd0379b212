"""The counter's state in Redis: the one client of a process and every Redis operation the app makes."""

import itertools
import socket
import threading
import time

from flask import current_app
from redis import Redis
from redis import exceptions as redis_errors
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.retry import Retry

from . import metrics

TOTAL = "counter:total"
REPLICAS = "counter:replicas"
SEEN = "counter:seen:"

# One atomic step: a key seen within the window answers its first count again;
# otherwise the total and the replica's share go up together and the key is remembered.
INCREMENT_ONCE = """
if KEYS[3] then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {tonumber(seen), 1} end
end
local count = redis.call('INCR', KEYS[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
if KEYS[3] then redis.call('SET', KEYS[3], count, 'EX', ARGV[2]) end
return {count, 0}
"""


# A lost or slow connection is worth another try; a refused login (to redis-py a ConnectionError
# too) is not: a wrong password stays wrong however often it is sent.
OUTAGES = (redis_errors.ConnectionError, redis_errors.TimeoutError)
# Seconds before the 2nd, 3rd, and every later try: the first retry at once (a pooled connection
# that broke when Redis restarted), then short pauses, so that a thread is not held for long
# while Redis is down (every request then gets its 503 quickly; nginx tries another replica).
BACKOFF = (0.0, 0.05, 0.1, 0.2)
# After a call ran out of its budget, the process's calls answer 503 at once for this long rather
# than each spend a budget on a Redis that is down: threads stay free, and nginx's passes to the
# other replicas are quick. Then the next call tries Redis again.
HOLD_OFF = 0.5


class CounterStore:
    """Every Redis call of a request, each within one time budget: tries (each at most a name
    lookup, a connect and a reply of `timeout` seconds each) and the pauses between them, until
    the budget would be overrun; then the outage is raised (a 503). A retry cannot count twice:
    every request through nginx carries a key, and a key counts once."""

    def __init__(self, client, window, timeout, budget):
        self.client = client
        self.window = window
        self.worst_try = 3 * timeout
        self.budget = budget
        self.down_until = 0.0  # monotonic time until which calls do not try (HOLD_OFF)
        self._increment_once = client.register_script(INCREMENT_ONCE)

    def within_budget(self, name, call):
        return metrics.timed(name, lambda: self.tries(call))

    def tries(self, call):
        if time.monotonic() < self.down_until:
            raise redis_errors.ConnectionError("Redis was unreachable a moment ago; not asked again yet")
        deadline = time.monotonic() + self.budget
        for tries in itertools.count():
            try:
                return call()
            except redis_errors.AuthenticationError:
                raise
            except OUTAGES:
                pause = BACKOFF[min(tries, len(BACKOFF) - 1)]
                if time.monotonic() + pause + self.worst_try > deadline:
                    self.down_until = time.monotonic() + HOLD_OFF
                    raise
                time.sleep(pause)

    def increment(self, replica, key=None):
        """Count one request for `replica`; returns (count, replayed).

        A `key` already counted within the window is not counted again: its
        first count comes back with replayed=True.
        """
        keys = [TOTAL, REPLICAS] + ([SEEN + key] if key else [])
        count, replayed = self.within_budget(
            "increment", lambda: self._increment_once(keys=keys, args=[replica, self.window])
        )
        return int(count), bool(replayed)

    def count(self):
        return int(self.within_budget("count", lambda: self.client.get(TOTAL)) or 0)

    def stats(self):
        def read():
            with self.client.pipeline(transaction=True) as pipe:
                return pipe.get(TOTAL).hgetall(REPLICAS).execute()

        total, replicas = self.within_budget("stats", read)
        return {
            "total": int(total or 0),
            "replicas": {name.decode(): int(n) for name, n in sorted(replicas.items())},
        }

    def ping(self):
        return self.within_budget("ping", self.client.ping)


class LoginRefused(RuntimeError):
    """Redis refused the app's credentials: a configuration error, not an outage."""


class BoundedLookup(Connection):
    """A connection whose look-up of Redis's name is bounded by the connect timeout.

    Docker's DNS can stall while the engine handles a container's death (a lookup then takes
    the resolver's 5 s), and nothing else here bounds a name lookup. A lookup that takes longer
    than the connect timeout is given up, to finish in its own thread; the last address found
    is tried meanwhile (a restarted Redis usually keeps its address). With no address found yet
    (a process's first connect, on a busy host) the lookup gets a whole try's time instead.
    """

    last_found = {}  # (host, port) -> the address of the last lookup that answered

    def _connect(self):
        name = self.host
        self.host = self.look_up(name, self.port, self.socket_connect_timeout)
        try:
            return super()._connect()
        finally:
            self.host = name

    @classmethod
    def look_up(cls, host, port, timeout):
        def resolve():
            try:
                cls.last_found[host, port] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
            except OSError as error:
                found.append(error)

        found = []
        lookup = threading.Thread(target=resolve, daemon=True)
        lookup.start()
        lookup.join(timeout if (host, port) in cls.last_found else 3 * timeout)
        if found and not lookup.is_alive():
            raise redis_errors.ConnectionError(f"cannot look up {host}: {found[0]}")
        if (host, port) not in cls.last_found:
            raise redis_errors.TimeoutError(f"looking up {host} took longer than {timeout} s")
        return cls.last_found[host, port]


def connect(config):
    """A client built from the app's settings. It makes one try per call: CounterStore retries."""
    password = None
    if config["REDIS_PASSWORD_FILE"]:
        with open(config["REDIS_PASSWORD_FILE"]) as secret:
            password = secret.read().strip()
    return Redis.from_url(
        config["REDIS_URL"],
        username=config["REDIS_USERNAME"] or None,
        password=password,
        socket_timeout=config["REDIS_TIMEOUT"],
        socket_connect_timeout=config["REDIS_TIMEOUT"],
        retry=Retry(NoBackoff(), 0),  # redis-py's default retries would spend the budget unseen
        connection_class=BoundedLookup,
    )


def check_login(client, config):
    """Wait until Redis answers before serving, so that a new replica takes requests only once it
    can count them (on Swarm a new container's overlay network can take a moment). Fail at once
    when Redis refuses the credentials, so the replica never turns healthy and its log names the
    cause. Redis not answering within REDIS_START_WAIT is no reason to fail: /readyz says it."""
    deadline = time.monotonic() + config["REDIS_START_WAIT"]
    while True:
        try:
            client.ping()
            return
        except redis_errors.AuthenticationError as error:
            user = config["REDIS_USERNAME"] or "default"
            raise LoginRefused(
                f"Redis refused the login of user {user!r} ({error}): check REDIS_USERNAME and the "
                f"password in REDIS_PASSWORD_FILE against Redis's ACL"
            ) from None
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
            if time.monotonic() > deadline:
                current_app.logger.warning("counter store not reachable yet: %s", error)
                return
            time.sleep(0.2)


def init_app(app):
    client = connect(app.config)
    with app.app_context():
        check_login(client, app.config)
    config = app.config
    app.extensions["counter_store"] = CounterStore(
        client, config["IDEMPOTENCY_WINDOW"], config["REDIS_TIMEOUT"], config["REDIS_BUDGET"]
    )


def get_store():
    return current_app.extensions["counter_store"]
