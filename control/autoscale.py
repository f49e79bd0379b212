"""The autoscaler's decision (`make up AUTOSCALE=MIN-MAX`): how many web replicas to have, from
how busy the ready ones are. Pure: no Docker, no clock, no network; control/autoscaler.py feeds
it and carries it out.

The rule is Kubernetes' HorizontalPodAutoscaler's: desired = ceil(current x busy / target), left
alone within a tolerance of the target. Busy is a replica's CPU over its limit (WEB_CPUS),
averaged over the ready replicas. As in HPA:
  - out at once, by as many as needed up to STEP a decision; a replica still starting counts as
    idle, so a scale-out never grows again because its new replicas have not reported yet;
  - in only once every recommendation over the last DOWN_AFTER seconds asked for fewer (HPA's
    stabilization window), one replica a decision, and not while a replica starts;
  - no signal (Prometheus down, no replica reporting): the size is held, and said, never MIN;
  - no web replica at all: nothing is done (the stack is stopped, or `make down` is under way)."""

import math
import re
from dataclasses import dataclass

from control.settings import SettingError, setting, whole_number

# Each setting's default, and what it may be.
DEFAULTS = {
    "AUTOSCALE_TARGET": "0.6",  # busy: CPU over the limit, averaged over the ready replicas
    "AUTOSCALE_PERIOD": "15",  # s between decisions
    "AUTOSCALE_DOWN_AFTER": "300",  # s the load must have stayed low before a replica goes
    "AUTOSCALE_STEP": "4",  # the most replicas added by one decision
}
TOLERANCE = 0.1  # of the target: closer than this, the size is right
BOUNDS = re.compile(r"([0-9]+)-([0-9]+)")


@dataclass(frozen=True)
class Policy:
    low: int
    high: int
    target: float = 0.6
    down_after: float = 300.0
    step: int = 4
    period: float = 15.0


@dataclass(frozen=True)
class Decision:
    replicas: int
    reason: str


def policy(environ, most):
    """The Policy AUTOSCALE and its settings give (MOST: MAX_SCALE), or None for AUTOSCALE=off;
    a bad value is refused in one line."""
    value = setting("AUTOSCALE", "off", environ)
    if value == "off":
        return None
    bounds = BOUNDS.fullmatch(value)
    if not bounds:
        raise SettingError(f"AUTOSCALE must be MIN-MAX (such as 1-8) or off, got '{value}'")
    low, high = (whole_number("AUTOSCALE", n, 1, most) for n in bounds.groups())
    if low > high:
        raise SettingError(f"AUTOSCALE's MIN must not be over its MAX, got '{value}'")

    def get(name):
        return setting(name, DEFAULTS[name], environ)

    target = fraction("AUTOSCALE_TARGET", get("AUTOSCALE_TARGET"))
    period = whole_number("AUTOSCALE_PERIOD", get("AUTOSCALE_PERIOD"), 1, 600)
    down_after = whole_number("AUTOSCALE_DOWN_AFTER", get("AUTOSCALE_DOWN_AFTER"), 0, 86400)
    step = whole_number("AUTOSCALE_STEP", get("AUTOSCALE_STEP"), 1, most)
    return Policy(low, high, target, float(down_after), step, float(period))


def fraction(name, value):
    """VALUE as a fraction over 0.05 and under 1 (a replica busier than its limit cannot be a target)."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.05 <= number <= 0.95:
        raise SettingError(f"{name} must be a fraction from 0.05 to 0.95, got '{value}'")
    return number


def decide(policy, current, busy, now, history, watched_since):
    """(Decision, history): CURRENT replicas running; BUSY the ready ones' busy fractions (None:
    no signal); HISTORY the (time, recommendation) pairs of the last DOWN_AFTER seconds, handed
    back with this one added; WATCHED_SINCE when the autoscaler began to watch."""
    if current == 0:  # never from none: the stack is stopped, or being taken down
        return Decision(
            0, "no web replica runs (the stack is stopped or stopping): nothing to scale"
        ), history
    if current < policy.low or current > policy.high:
        wanted = within(policy, current)
        return Decision(
            wanted, f"{current} replicas, outside {policy.low}-{policy.high}: {current} -> {wanted}"
        ), history
    if not busy:
        kept = [*recent(history, now, policy.down_after), (now, current)]
        why = "no replica reports" if busy == [] else "Prometheus does not answer"
        return Decision(current, f"no signal ({why}): holding at {current}"), kept
    average = sum(busy) / len(busy)
    starting = max(0, current - len(busy))
    said = f"busy {average:.2f} over target {policy.target:.2f} on {len(busy)} ready replicas"
    if starting:
        said += f" ({starting} starting)"
    wanted = recommend(policy, current, busy, starting)
    history = [*recent(history, now, policy.down_after), (now, wanted)]
    if wanted > current:
        grown = min(wanted, current + policy.step)
        return Decision(grown, f"{said}: {current} -> {grown}"), history
    if wanted < current:
        if now - watched_since < policy.down_after:
            return Decision(current, f"{said}: {current}, low for less than {policy.down_after:g} s"), history
        if max(r for _, r in history) < current:
            return Decision(
                current - 1, f"{said}, low for {policy.down_after:g} s: {current} -> {current - 1}"
            ), history
        return Decision(current, f"{said}: {current}, not low for {policy.down_after:g} s yet"), history
    return Decision(current, f"{said}: {current}"), history


def recommend(policy, current, busy, starting):
    """The replicas HPA's rule asks for, within the bounds: CURRENT where the ready replicas'
    average is within the tolerance of the target; where it is over, starting replicas count as
    idle (the new total over the target); where under, CURRENT while any replica starts."""
    ratio = sum(busy) / len(busy) / policy.target
    if abs(ratio - 1) <= TOLERANCE:
        return current
    if ratio > 1:
        wanted = max(current, math.ceil(sum(busy) / policy.target - 1e-9))
        if sum(busy) / (len(busy) + starting) / policy.target <= 1 + TOLERANCE:
            wanted = current
    elif starting:
        wanted = current
    else:
        wanted = math.ceil(current * ratio - 1e-9)
    return within(policy, wanted)


def within(policy, replicas):
    """REPLICAS, brought within the policy's bounds."""
    return min(max(replicas, policy.low), policy.high)


def recent(history, now, window):
    return [(t, r) for t, r in history if t > now - window]
