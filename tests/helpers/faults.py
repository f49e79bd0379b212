"""A fault applied while a load runs (the `during` of load_client.run), and what it cost."""

import time


class FaultWindow:
    """After `after` seconds, apply(); then, if there is an `undo`, `lasting` seconds later undo().
    `start` and `end` (monotonic) say when the fault began and was undone."""

    def __init__(self, apply, undo=None, after=3, lasting=0):
        self.apply, self.undo, self.after, self.lasting = apply, undo, after, lasting
        self.start = self.end = None

    def __call__(self):
        time.sleep(self.after)
        self.start = time.monotonic()
        self.apply()
        if self.undo:
            time.sleep(self.lasting)
            self.undo()
        self.end = time.monotonic()


def docker(stack, *args):
    """A fault's step: `docker ARGS...` run for the stack."""
    return lambda: stack.run("docker", *args)


def resumed_after(result, start):
    """Seconds from `start` (monotonic) to the first success after the last failed attempt."""
    last_failure = max((started for started, _ in result.failures), default=start)
    return min(t for t, _ in result.answered if t > last_failure) - start
