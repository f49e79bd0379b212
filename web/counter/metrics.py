"""Prometheus metrics of a replica, at /metrics (which nginx does not pass on from outside).

gunicorn runs several worker processes per replica; with PROMETHEUS_MULTIPROC_DIR set (on the
container's tmpfs, emptied at start by gunicorn.conf.py), each writes its figures there and
/metrics adds them up, so a scrape sees the whole replica whichever worker answers it. A worker
counts in memory and writes its figures to its file once a second (FLUSH_EVERY) and before it
answers a scrape, rather than at every increment (a file write and a process-id check each, about
a tenth of a request's CPU): another worker's figures are then at most a second old, and a
worker that crashes loses at most its last second of them.
"""

import atexit
import functools
import os
import threading
import time

from flask import Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.registry import REGISTRY

from counter import usage

FLUSH_EVERY = 1.0  # seconds
BUFFERED = []  # this process's values


def buffered(file_backed):
    """prometheus_client's file-backed value class, its increments kept in memory till a flush."""

    class BufferedValue(file_backed):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pending = 0.0
            self._pending_lock = threading.Lock()
            BUFFERED.append(self)

        def inc(self, amount):
            with self._pending_lock:
                self._pending += amount

        def flush(self):
            with self._pending_lock:
                amount, self._pending = self._pending, 0.0
            if amount:
                super().inc(amount)

    return BufferedValue


def flush():
    for value in list(BUFFERED):
        value.flush()


def flush_every_second():
    while True:
        time.sleep(FLUSH_EVERY)
        flush()


def start_flushing():
    threading.Thread(target=flush_every_second, name="metrics-flush", daemon=True).start()


def after_fork():
    """In a new worker: fresh locks (a thread of the parent may have held one at the fork) and its
    own flushing thread (threads do not survive a fork)."""
    for value in BUFFERED:
        value._pending_lock = threading.Lock()
    start_flushing()


MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:  # before any metric is made (gunicorn's master imports this, then forks workers)
    values.ValueClass = buffered(values.MultiProcessValue())
    start_flushing()
    os.register_at_fork(after_in_child=after_fork)
    atexit.register(flush)
else:
    REGISTRY.register(usage.Collector())

REQUESTS = Counter(
    "counter_http_requests", "HTTP requests answered, by endpoint and status.", ["endpoint", "status"]
)
INCREMENTS = Counter("counter_increments", "Requests counted (the counter went up by one).")
REPLAYS = Counter(
    "counter_replays", "Requests answered with the count of an earlier one (a repeated key or request id)."
)
REDIS_SECONDS = Histogram(
    "counter_redis_call_seconds",
    "Time of each of the app's Redis calls, its retries included.",
    ["call"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
HELD_OFF = Counter(
    "counter_redis_calls_held_off",
    "Redis calls answered 503 at once, Redis not asked, just after one ran out of its time budget.",
    ["call"],
)


@functools.cache
def child(metric, *label_values):
    """The metric's child for these label values: prometheus_client's labels() checks and locks at
    every call, and the app's label values are few."""
    return metric.labels(*label_values)


def timed(call_name, run):
    """run() and how long it took, observed as the Redis call `call_name`."""
    started = time.perf_counter()
    try:
        return run()
    finally:
        child(REDIS_SECONDS, call_name).observe(time.perf_counter() - started)


def held_off(call_name):
    child(HELD_OFF, call_name).inc()


def counted(replayed):
    (REPLAYS if replayed else INCREMENTS).inc()


def exposition():
    if MULTIPROCESS:
        flush()  # this worker's newest figures; the others' are at most FLUSH_EVERY old
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(usage.Collector())
        return generate_latest(registry)
    return generate_latest()


def init_app(app):
    @app.after_request
    def count_request(response):
        endpoint = request.url_rule.endpoint if request.url_rule else "none"
        if endpoint != "counter.metrics":
            child(REQUESTS, endpoint.removeprefix("counter."), str(response.status_code)).inc()
        return response

    @app.get("/metrics", endpoint="counter.metrics")
    def metrics():
        return Response(exposition(), 200, content_type=CONTENT_TYPE_LATEST)
