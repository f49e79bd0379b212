"""The counter's state in Redis: its keys, its one atomic step, and every Redis call the app makes,
each within a time budget. How the process reaches Redis is redis_client's; when an increment
counts as acknowledged, acknowledgement's."""

import itertools
import time
import uuid

from flask import current_app
from redis import exceptions as redis_errors

from . import acknowledgement, metrics, redis_client

TOTAL = "counter:total"
REPLICAS = "counter:replicas"
SEEN = "counter:seen:"

# One atomic step: a key seen within the window answers its first count again, and is written
# again (so that an acknowledgement awaited after this step also covers the first write);
# otherwise the total and the replica's share go up together and the key is remembered.
# `#!lua` (no flags): refused whole by a replica (READONLY) or by a primary without enough
# replicas (NOREPLICAS), before it writes anything.
INCREMENT_ONCE = """#!lua
local seen = redis.call('GET', KEYS[3])
if seen then
  redis.call('SET', KEYS[3], seen, 'EX', ARGV[2])
  return {tonumber(seen), 1}
end
local count = redis.call('INCR', KEYS[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('SET', KEYS[3], count, 'EX', ARGV[2])
return {count, 0}
"""


# A lost or slow connection is worth another try; a refused login (to redis-py a ConnectionError
# too) is not: a wrong password stays wrong however often it is sent.
OUTAGES = (redis_errors.ConnectionError, redis_errors.TimeoutError)
# Seconds before the 2nd, 3rd, and every later try: the first retry at once (a pooled connection
# that broke when Redis restarted), then short pauses, so that a thread is not held for long
# while Redis is down (every request then gets its 503 quickly; nginx tries another replica).
BACKOFF = (0.0, 0.05, 0.1, 0.2)
# Redis answered, but did not take the write: the primary refused it whole (NOREPLICAS: it is
# handing over to another in a planned switch, or has no replica in sync) or no replica confirmed
# it in time, or it was demoted (READONLY) and the sentinels are asked again. Once a call met one,
# Redis is up and quick: it is asked again every REFUSAL_PAUSE while the budget leaves room for
# one step (REDIS_TIMEOUT), whatever fails next, and no hold-off follows.
REFUSALS = (acknowledgement.NotAcknowledged, redis_client.Demoted)
REFUSAL_PAUSE = 0.05
# The server closed the connection (redis-py's words): it was up a moment ago. Redis closes its
# clients' connections when it is told to follow another primary while some wait on a reply
# (WAIT), and a sentinel does as it reconfigures an instance (CLIENT KILL TYPE normal). A new
# connection is tried at once if a quick try (REDIS_TIMEOUT) fits, and it is no sign that Redis
# is down: no hold-off follows it (a Redis that did go down refuses the next try, which does).
CLOSED = "Connection closed by server"
# After a call ran out of its budget, the process's calls answer 503 at once for this long rather
# than each spend a budget on a Redis that is down: threads stay free, and nginx's passes to the
# other replicas are quick. Then the next call tries Redis again.
HOLD_OFF = 0.5


class CounterStore:
    """Every Redis call of a request, each within one time budget: tries and the pauses between
    them, until the budget would be overrun; then the outage is raised (a 503). A try is started
    only if a name lookup, a connect and a reply of `timeout` seconds each fit in what is left;
    its reply is then awaited for all that is left, so that a reply late by a moment's stall is
    still taken rather than failing a request that could not try again. A retry cannot count twice:
    every increment carries a key (the client's, nginx's request id, or one made here), and a
    key counts once."""

    def __init__(self, client, window, timeout, budget, acknowledged_by=None):
        self.client = client
        self.window = window
        self.timeout = timeout
        self.worst_try = 3 * timeout
        self.budget = budget
        self.acknowledged_by = acknowledged_by  # an acknowledgement.Acknowledgement, or None
        self.down_until = 0.0  # monotonic time until which calls do not try (HOLD_OFF)
        self.last_outage = None  # what ended the last call that ran out of budget
        self._increment_once = client.register_script(INCREMENT_ONCE)

    def within_budget(self, call_name, call):
        """call() within the budget, timed; or, just after an outage, its 503 at once (counted apart)."""
        if time.monotonic() < self.down_until:
            metrics.held_off(call_name)
            error = self.last_outage
            raise type(error)(f"{error} (a moment ago: not asked again yet)")
        return metrics.timed(call_name, lambda: self.tries(call))

    def tries(self, call):
        deadline = time.monotonic() + self.budget
        answered = False  # whether Redis refused a try during this call: it is up, and quick
        for attempt in itertools.count():
            try:
                with redis_client.replies_by(deadline):
                    return call()
            except redis_errors.AuthenticationError:
                raise
            except (*REFUSALS, *OUTAGES) as error:
                refused = isinstance(error, REFUSALS)
                answered = answered or refused
                closed = str(error).startswith(CLOSED)
                if answered:
                    # a refusal's retry is on the same connection, or a quick new one
                    pause, next_try = REFUSAL_PAUSE, 0.0 if refused else self.timeout
                elif closed:
                    pause, next_try = BACKOFF[min(attempt, len(BACKOFF) - 1)], self.timeout
                else:
                    pause, next_try = BACKOFF[min(attempt, len(BACKOFF) - 1)], self.worst_try
                if time.monotonic() + pause + next_try > deadline:
                    if not (answered or closed):
                        self.down_until = time.monotonic() + HOLD_OFF
                        self.last_outage = error
                    raise
                time.sleep(pause)

    def increment(self, replica, key=None):
        """Count one request for `replica`; returns (count, replayed).

        A `key` already counted within the window is not counted again: its
        first count comes back with replayed=True.
        """
        keys = [TOTAL, REPLICAS, SEEN + (key or f"once:{uuid.uuid4().hex}")]
        count, replayed = self.within_budget("increment", lambda: self.step(keys, [replica, self.window]))
        return int(count), bool(replayed)

    def step(self, keys, args):
        """One try of the step, acknowledged as the settings say (acknowledgement.py)."""
        if self.acknowledged_by is None:
            return self._increment_once(keys=keys, args=args)
        for _ in range(2):  # a new primary may not have the script yet: load it, then once more
            with self.client.pipeline(transaction=False) as pipe:
                pipe.evalsha(self._increment_once.sha, len(keys), *keys, *args)
                self.acknowledged_by.ask(pipe)
                try:
                    reply, *waits = pipe.execute(raise_on_error=False)
                except redis_errors.TimeoutError as error:
                    # Redis runs a WAIT's timeout only as often as its `hz`: a late one ends here.
                    raise redis_errors.TimeoutError(
                        f"{error}: no answer to the increment and its acknowledgement in time "
                        "(the primary or its replicas are slow)"
                    ) from None
            if not isinstance(reply, redis_errors.NoScriptError):
                break
            self.client.script_load(INCREMENT_ONCE)
        self.acknowledged_by.check(reply, waits)
        return reply

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


def init_app(app):
    config = app.config
    client = redis_client.connect(config)
    with app.app_context():
        redis_client.check_login(client, config)
    app.extensions["counter_store"] = CounterStore(
        client,
        config["IDEMPOTENCY_WINDOW"],
        config["REDIS_TIMEOUT"],
        config["REDIS_BUDGET"],
        acknowledgement.from_config(config),
    )


def get_store():
    return current_app.extensions["counter_store"]
