"""What stops an operation: `Stop`, whose message is the one line a user reads (its cause, and
what to do where there is something to do). `python3 -m control` prints it after the command's
name and exits 1; nothing else reaches a user as a traceback."""


class Stop(Exception):
    """An operation that cannot go on, said in one line."""
