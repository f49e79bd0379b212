"""`make load SHAPE=wave`: a load that rises, holds and falls, so that an autoscaled stack
(make up AUTOSCALE=MIN-MAX) is seen scaling out and back in within one run. The run is cut in
quarters: users rise from one to USERS, hold there, fall to a tenth of USERS, and hold there
(long enough for the autoscaler's window, AUTOSCALE_DOWN_AFTER, where DURATION allows)."""


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
