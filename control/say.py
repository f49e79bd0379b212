"""What an operation says as it goes: one line each, `==> ` first, as every make target does."""

import time


def say(line):
    print(f"==> {line}", flush=True)


def timed(what, step, *args):
    """step(*args), then how long it took, said: "WHAT: done in N s"."""
    started = time.monotonic()
    result = step(*args)
    say(f"{what}: done in {int(time.monotonic() - started)} s")
    return result
