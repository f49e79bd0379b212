"""control/autoscale.py: the autoscaler's decision, HPA's rule, with no Docker and no clock."""

import pytest

from control.autoscale import Policy, decide, policy, within
from control.settings import SettingError

POLICY = Policy(low=1, high=8, target=0.6, down_after=300, step=4, period=15)


def once(current, busy, now=1000.0, history=(), since=0.0, rule=POLICY):
    return decide(rule, current, busy, now, list(history), since)[0]


def test_over_the_target_grows_at_once_by_as_many_as_the_rule_asks():
    decision = once(2, [0.9, 0.9])
    assert decision.replicas == 3  # ceil(2 x 0.9 / 0.6)
    assert decision.reason == "busy 0.90 over target 0.60 on 2 ready replicas: 2 -> 3"
    assert once(1, [1.0]).replicas == 2
    assert once(2, [1.0, 1.0]).replicas == 4


def test_within_the_tolerance_nothing_changes():
    assert once(3, [0.65, 0.64, 0.66]).replicas == 3  # 0.65 / 0.6 = 1.08: within 10 %
    assert once(3, [0.55, 0.55, 0.55], since=-1e9).replicas == 3  # 0.92
    assert once(3, [0.7, 0.7, 0.7]).replicas == 4  # 1.17: outside


def test_a_step_is_capped_and_the_bounds_hold():
    assert once(2, [1.0, 1.0], rule=Policy(1, 8, 0.1, step=3)).replicas == 5
    assert once(6, [1.0] * 6).replicas == 8
    assert once(8, [1.0] * 8).replicas == 8


def test_a_starting_replica_counts_as_idle_so_a_scale_out_does_not_grow_again():
    # Two ready at 0.9, two just started and not reporting: 1.8 / 4 = 0.45, under the target.
    decision = once(4, [0.9, 0.9])
    assert decision.replicas == 4 and "(2 starting)" in decision.reason
    # Far over even with the starting ones idle: it grows.
    assert once(3, [1.0, 1.0]).replicas == 4


def test_in_only_after_the_window_of_low_recommendations_one_at_a_time():
    low = [0.1, 0.1, 0.1, 0.1]
    # Watching for less than the window: held.
    decision = once(4, low, now=200.0, since=0.0)
    assert decision.replicas == 4 and "less than 300 s" in decision.reason
    # A high recommendation within the window holds the size.
    assert once(4, low, now=1000.0, history=[(800.0, 4)]).replicas == 4
    # Every recommendation in the window low: one replica goes, not three.
    decision = once(4, low, now=1000.0, history=[(800.0, 1), (900.0, 1)])
    assert decision.replicas == 3
    assert decision.reason == "busy 0.10 over target 0.60 on 4 ready replicas, low for 300 s: 4 -> 3"
    # A high recommendation older than the window is forgotten.
    assert once(4, low, now=1000.0, history=[(650.0, 8), (800.0, 1)]).replicas == 3


def test_not_in_while_a_replica_starts():
    assert once(3, [0.05, 0.05], history=[(800.0, 1)]).replicas == 3


def test_no_signal_holds_the_size_and_says_so_and_the_window_starts_again():
    decision, history = decide(POLICY, 4, None, 1000.0, [(800.0, 1)], 0.0)
    assert decision == decision.__class__(4, "no signal (Prometheus does not answer): holding at 4")
    assert once(4, []).reason == "no signal (no replica reports): holding at 4"
    # The hold is remembered as a recommendation of the size: the load must stay low a window more.
    assert once(4, [0.1] * 4, now=1015.0, history=history).replicas == 4


def test_a_size_outside_the_bounds_is_brought_inside():
    assert [within(Policy(2, 8), n) for n in (0, 1, 2, 5, 8, 9)] == [2, 2, 2, 5, 8, 8]
    assert once(10, None).replicas == 8
    assert once(1, None, rule=Policy(2, 8)).replicas == 2


def test_no_replica_at_all_is_left_alone_so_a_stack_being_taken_down_stays_down():
    decision = once(0, [], rule=Policy(2, 8))
    assert decision.replicas == 0 and "nothing to scale" in decision.reason


def test_a_steady_load_settles_and_stays():
    """Replayed: load worth 1.5 cores of busy; each replica's share is the load over the size."""
    size, history, sizes = 1, [], []
    for tick in range(100):
        busy = [min(1.0, 1.5 / size)] * size
        decision, history = decide(POLICY, size, busy, tick * 15.0, history, 0.0)
        size = decision.replicas
        sizes.append(size)
    assert sizes[:3] == [2, 4, 4] or sizes[:3] == [2, 3, 3]
    assert len(set(sizes[3:])) == 1  # settled, no flapping


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"AUTOSCALE": "8-1"}, "AUTOSCALE's MIN must not be over its MAX, got '8-1'"),
        ({"AUTOSCALE": "1-99"}, "AUTOSCALE must be a whole number from 1 to 64, got '99'"),
        ({"AUTOSCALE": "on"}, "AUTOSCALE must be MIN-MAX (such as 1-8) or off, got 'on'"),
        (
            {"AUTOSCALE": "1-8", "AUTOSCALE_TARGET": "1.5"},
            "AUTOSCALE_TARGET must be a fraction from 0.05 to 0.95, got '1.5'",
        ),
        (
            {"AUTOSCALE": "1-8", "AUTOSCALE_DOWN_AFTER": "soon"},
            "AUTOSCALE_DOWN_AFTER must be a whole number from 0 to 86400, got 'soon'",
        ),
    ],
)
def test_bad_settings_are_refused_in_one_line(environ, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingError) as refused:
        policy(environ, 64)
    assert str(refused.value) == message


def test_the_settings_and_their_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert policy({}, 64) is None
    assert policy({"AUTOSCALE": "off"}, 64) is None
    assert policy({"AUTOSCALE": "2-6"}, 64) == Policy(2, 6, 0.6, 300.0, 4, 15.0)
    (tmp_path / ".env").write_text("AUTOSCALE=1-3\nAUTOSCALE_DOWN_AFTER=20\n")
    assert policy({}, 64) == Policy(1, 3, 0.6, 20.0, 4, 15.0)
