"""Moments when this machine itself stopped: a CPU not given back for a while, or a disk that held
an fsync. Every Redis write of the stack waits for an fsync (`appendfsync always`), so a disk that
stalls stalls the store, and its requests fail whatever the stack does; a load run records these
moments so that a test can tell the stack's failures from the host's. A stall explains a failure
only if it lasted at least the shortest wait whose overrun fails a request: one step of a Redis
try, its name lookup or its connect (REDIS_TIMEOUT, 0.2 s; a reply is awaited for the rest of the
call's budget). A try that late leaves no room in the call's budget (REDIS_BUDGET, 0.75 s) for
another (web/counter/store.py), so the request gets a 503 and its replica answers 503 at once for
a moment after (HOLD_OFF), and so do the others that waited on the same stall: nginx's passes
over them end at once too. Shorter stalls are the stack's to absorb.

A thread writes and fsyncs a small file every 50 ms, on the disk of the project's folder (the
containers' volumes are on the same disk here and in CI), and records each round that took longer
than REDIS_TRY (one step of a Redis try, REDIS_TIMEOUT) beyond its sleep."""

import os
import tempfile
import threading
import time
import warnings

from counter.settings import Settings
from helpers.support import ROOT

# The web tier's default wait for one step of a Redis try (web/counter/settings.py), in seconds.
REDIS_TRY = Settings().REDIS_TIMEOUT
# s: how long after a stall its effects can still show: nginx answers within 4.5 s whatever fails
AFTERMATH = 5.0
INTERVAL = 0.05


class HostStalled(UserWarning):
    """Shown in pytest's warnings summary: every stall a run saw, whether it excused anything or not."""


class StallWatch:
    """Records (start, end) in monotonic seconds of each stall, from start() until stop()."""

    def __init__(self):
        self.stalls = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        self.thread.join()
        return self.stalls

    def watch(self):
        with tempfile.TemporaryFile(dir=ROOT) as probe:
            while not self.stopped.is_set():
                began = time.monotonic()
                os.pwrite(probe.fileno(), b"x" * 512, 0)
                os.fsync(probe.fileno())
                time.sleep(INTERVAL)
                ended = time.monotonic()
                if ended - began > INTERVAL + REDIS_TRY:
                    self.stalls.append((began, ended))


def during_a_stall(when, stalls, budget):
    """Whether an attempt started at `when` may have failed because of a stall of `budget` s or more."""
    return any(start - AFTERMATH <= when <= end + AFTERMATH for start, end in stalls if end - start >= budget)


def report(stalls, failures):
    """A warning naming the stalls and the failed attempts near them, if the host stalled."""
    if stalls:
        longest = max(end - start for start, end in stalls)
        near = sum(during_a_stall(when, stalls, 0) for when, _ in failures)
        warnings.warn(
            HostStalled(
                f"the host stalled {len(stalls)} times (longest {longest:.2f} s); "
                f"{near} failed attempts started within {AFTERMATH:g} s of one"
            ),
            stacklevel=3,
        )
