"""The counter's state in Redis: the one client of a process and every Redis operation the app makes."""

from flask import current_app
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

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


class CounterStore:
    def __init__(self, client, window):
        self.client = client
        self.window = window
        self._increment_once = client.register_script(INCREMENT_ONCE)

    def increment(self, replica, key=None):
        """Count one request for `replica`; returns (count, replayed).

        A `key` already counted within the window is not counted again: its
        first count comes back with replayed=True.
        """
        keys = [TOTAL, REPLICAS] + ([SEEN + key] if key else [])
        count, replayed = self._increment_once(keys=keys, args=[replica, self.window])
        return int(count), bool(replayed)

    def count(self):
        return int(self.client.get(TOTAL) or 0)

    def stats(self):
        with self.client.pipeline(transaction=True) as pipe:
            total, replicas = pipe.get(TOTAL).hgetall(REPLICAS).execute()
        return {
            "total": int(total or 0),
            "replicas": {name.decode(): int(n) for name, n in sorted(replicas.items())},
        }

    def ping(self):
        return self.client.ping()


def connect(config):
    """A client built from the app's settings. It retries transient errors with backoff, which
    cannot count twice: every request through nginx carries a key, and a key counts once."""
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
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), config["REDIS_RETRIES"]),
        retry_on_error=[ConnectionError, TimeoutError],
    )


def init_app(app):
    store = CounterStore(connect(app.config), app.config["IDEMPOTENCY_WINDOW"])
    app.extensions["counter_store"] = store


def get_store():
    return current_app.extensions["counter_store"]
