"""A load client for the tests: concurrent keep-alive clients that record every answer they get.

Each request carries its own Idempotency-Key. With `retry`, a request that failed is sent
again with the same key until it succeeds or time runs out, as a careful client would;
so a request counts as successful once, however many attempts it took.
"""

import http.client
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from helpers import host_stalls

SENTENCE = re.compile(r"Hello World! I have been seen (\d+) times\.\n")
RETRYABLE = {502, 503, 504}


@dataclass
class Result:
    attempts: Counter = field(default_factory=Counter)  # status (or error name) of every attempt
    counts: list = field(default_factory=list)  # the count of each successful request, once per key
    served_by: Counter = field(default_factory=Counter)
    answered: list = field(default_factory=list)  # (monotonic time, replica) of each success
    gave_up: int = 0  # requests that never succeeded
    slowest: float = 0.0  # seconds, the longest single attempt
    failures: list = field(default_factory=list)  # (monotonic start time, status) of each failed attempt
    bad_bodies: list = field(default_factory=list)
    stalls: list = field(default_factory=list)  # (monotonic start, end) of each stall of the host
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def successes(self):
        return len(self.counts)

    @property
    def failed_attempts(self):
        return sum(n for status, n in self.attempts.items() if status != 200)

    def failed_by_the_stack(self, budget=host_stalls.REDIS_TRY):
        """The failed attempts that no stall of the host of `budget` s or more explains
        (helpers/host_stalls.py)."""
        explained = host_stalls.during_a_stall
        return [(when, s) for when, s in self.failures if not explained(when, self.stalls, budget)]

    def rate(self, start, end, replica=None):
        """Successes per second answered from `start` to `end` (monotonic), by `replica` or any."""
        n = sum(start <= t < end and replica in (None, r) for t, r in self.answered)
        return n / (end - start)


class Client:
    """One keep-alive connection at a time. `host` may be a list of addresses (every node of a
    swarm, as DNS round robin would give them): a connection that breaks moves to the next one."""

    def __init__(self, port, timeout=15.0, host="127.0.0.1", first=0):
        self.hosts = [host] if isinstance(host, str) else list(host)
        self.current = first % len(self.hosts)
        self.port = port
        self.timeout = timeout
        self.conn = None

    @property
    def host(self):
        return self.hosts[self.current]

    def get(self, path, headers=None):
        """(status, headers, body) of one GET; raises OSError/HTTPException on a broken connection."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request("GET", path, headers=headers or {})
            response = self.conn.getresponse()
            body = response.read().decode()
        except (OSError, http.client.HTTPException):
            self.close()
            self.current = (self.current + 1) % len(self.hosts)
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, response, body

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def count_one(client, result, deadline, retry):
    """Send one keyed request, retrying it while allowed; record what came back."""
    key = uuid.uuid4().hex
    while True:
        started = time.monotonic()
        try:
            status, response, body = client.get("/", {"Idempotency-Key": key})
        except (OSError, http.client.HTTPException) as error:
            status = type(error).__name__
        with result.lock:
            result.attempts[status] += 1
            result.slowest = max(result.slowest, time.monotonic() - started)
            if status != 200:
                result.failures.append((started, status))
        if status == 200:
            match = SENTENCE.fullmatch(body)
            with result.lock:
                if match:
                    replica = response.getheader("X-Served-By")
                    result.counts.append(int(match.group(1)))
                    result.served_by[replica] += 1
                    result.answered.append((time.monotonic(), replica))
                else:
                    result.bad_bodies.append(body)
            return
        if not retry or (status not in RETRYABLE and isinstance(status, int)) or time.monotonic() > deadline:
            with result.lock:
                result.gave_up += 1
            return
        time.sleep(0.1)


def run(
    port,
    clients=16,
    seconds=20.0,
    retry=False,
    settle=30.0,
    during=None,
    grace=30.0,
    host="127.0.0.1",
    timeout=15.0,
    after=None,
    pace=None,
):
    """Run `clients` threads for `seconds`; call `during()` meanwhile; return the Result. With
    `after`, the run lasts until `during()` returns, and `after` seconds more (`seconds` unused).

    Each client waits `timeout` seconds for an answer; one that takes longer is a failed attempt
    ("TimeoutError"). With `pace`, a function, each client starts a request at most every
    pace() seconds (the load can change while it runs); without, one as soon as the last ends.

    A request still failing when the run ends is retried (with `retry`) for up to `settle`
    more seconds, so that none is left in doubt. A client still busy `grace` seconds after
    that has hung: the run fails rather than hand back a result still being written.
    """
    result = Result()
    watch = host_stalls.StallWatch().start()
    ends = [float("inf") if after is not None else time.monotonic() + seconds]

    def loop(number):
        client = Client(port, timeout, host, first=number)
        while time.monotonic() < ends[0]:
            started = time.monotonic()
            count_one(client, result, ends[0] + settle, retry)
            if pace is not None:
                time.sleep(max(0.0, started + pace() - time.monotonic()))
        client.close()

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    if during is not None:
        try:
            during()
        except BaseException:
            # The clients stop now and are waited for, so none goes on counting into the next test.
            ends[0] = time.monotonic()
            for thread in threads:
                thread.join(settle + grace)
            watch.stop()
            raise
        if after is not None:
            ends[0] = time.monotonic() + after
    deadline = ends[0] + settle + grace
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    result.stalls = watch.stop()
    host_stalls.report(result.stalls, result.failures)
    hung = sum(thread.is_alive() for thread in threads)
    if hung:
        raise RuntimeError(f"{hung} of {clients} load clients still busy {grace:g} s after the run ended")
    return result
