"""The counter's state in Redis: the one client of a process and every Redis operation the app makes."""

from flask import current_app
from redis import Redis
from redis import exceptions as redis_errors
from redis.backoff import ExponentialBackoff
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


class RetryOutages(Retry):
    """Retries a lost or slow connection, never a refused login: redis-py's AuthenticationError
    is a ConnectionError, but a wrong password stays wrong however often it is sent."""

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        def retryable(error):
            if isinstance(error, redis_errors.AuthenticationError):
                return False
            return is_retryable is None or is_retryable(error)

        return super().call_with_retry(do, fail, retryable, with_failure_count)


class LoginRefused(RuntimeError):
    """Redis refused the app's credentials: a configuration error, not an outage."""


def connect(config):
    """A client built from the app's settings. It retries transient errors with backoff, which
    cannot count twice: every request through nginx carries a key, and a key counts once."""
    password = None
    if config["REDIS_PASSWORD_FILE"]:
        with open(config["REDIS_PASSWORD_FILE"]) as secret:
            password = secret.read().strip()
    outages = [redis_errors.ConnectionError, redis_errors.TimeoutError]
    return Redis.from_url(
        config["REDIS_URL"],
        username=config["REDIS_USERNAME"] or None,
        password=password,
        socket_timeout=config["REDIS_TIMEOUT"],
        socket_connect_timeout=config["REDIS_TIMEOUT"],
        retry=RetryOutages(ExponentialBackoff(cap=0.5, base=0.05), config["REDIS_RETRIES"], tuple(outages)),
        retry_on_error=outages,
    )


def check_login(client, config):
    """Fail at start when Redis refuses the credentials, so the replica never turns healthy and
    its log names the cause. Redis not answering yet is no reason to fail: /readyz says it."""
    try:
        client.ping()
    except redis_errors.AuthenticationError as error:
        user = config["REDIS_USERNAME"] or "default"
        raise LoginRefused(
            f"Redis refused the login of user {user!r} ({error}): check REDIS_USERNAME and the "
            f"password in REDIS_PASSWORD_FILE against Redis's ACL"
        ) from None
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
        current_app.logger.warning("counter store not reachable yet: %s", error)


def init_app(app):
    client = connect(app.config)
    with app.app_context():
        check_login(client, app.config)
    app.extensions["counter_store"] = CounterStore(client, app.config["IDEMPOTENCY_WINDOW"])


def get_store():
    return current_app.extensions["counter_store"]
