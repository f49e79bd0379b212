"""Which Redis instance is the primary under Sentinel: the one a strict majority of the sentinels
name. A sentinel back from a lost node can name the old primary for a minute or more, until it
hears from the others, so the first answer is not enough; where no majority names one (a
failover under way, sentinels unreachable) there is no answer yet, and a caller waits."""


def primary(named, sentinels):
    """The instance that more than half of the `sentinels` (how many there are) name in `named`
    (each answering sentinel's answer), or None."""
    for name in sorted(set(named)):
        if name and named.count(name) > sentinels // 2:
            return name
    return None
