"""Loads that change during a run (`make load SHAPE=...`), to watch an autoscaled stack (make up
AUTOSCALE=MIN-MAX) follow them:
  wave  the run cut in quarters: users rise from one to USERS, hold there, fall to a tenth of
        USERS, and hold there (long enough for AUTOSCALE_DOWN_AFTER, where DURATION allows);
  step  a tenth of USERS for the first quarter, then USERS at once: how long the stack takes to
        meet a step of load (the report's p99 over time, against the same run at a fixed size)."""


def wave(seconds, peak, duration):
    """(users, spawn rate) SECONDS into a run of DURATION seconds that peaks at PEAK users, or
    None once the run is over."""
    if seconds >= duration:
        return None
    quarter = duration / 4
    low = max(1, peak // 10)
    stage, into = divmod(seconds, quarter)
    if stage == 0:
        users = 1 + (peak - 1) * into / quarter
    elif stage == 1:
        users = peak
    elif stage == 2:
        users = peak - (peak - low) * into / quarter
    else:
        users = low
    # fast enough to follow the line, a second's worth of users or more
    rate = max(1.0, 2 * (peak - low) / quarter)
    return round(users), rate


def step(seconds, peak, duration):
    """(users, spawn rate) SECONDS into a run of DURATION seconds stepping up to PEAK users."""
    if seconds >= duration:
        return None
    if seconds < duration / 4:
        return max(1, peak // 10), float(peak)
    return peak, float(peak)


SHAPES = {"wave": wave, "step": step}
