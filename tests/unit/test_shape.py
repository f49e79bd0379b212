"""loadtest/shape.py: make load SHAPE=wave's users over the run: rise, hold, fall, hold low."""

from shape import step, wave


def test_the_wave_rises_holds_falls_and_ends():
    users = [wave(t, 100, 400)[0] for t in range(0, 400, 10)]
    assert users[0] == 1 and users[9] >= 90  # rising over the first quarter
    assert set(users[10:20]) == {100}  # holding
    assert users[20] == 100 and users[25] == 55 and users[29] < 20  # falling to a tenth
    assert set(users[30:]) == {10}  # holding low
    assert users[:10] == sorted(users[:10]) and users[20:30] == sorted(users[20:30], reverse=True)
    assert wave(400, 100, 400) is None


def test_its_spawn_rate_follows_the_line_and_a_small_peak_still_has_one_user():
    assert wave(0, 100, 400)[1] >= 90 / 100  # 90 users to stop over 100 s
    assert wave(0, 1, 60) == (1, 1.0) and wave(50, 1, 60) == (1, 1.0)


def test_the_step_holds_a_tenth_for_a_quarter_then_all():
    assert [step(t, 50, 200)[0] for t in (0, 49, 50, 199)] == [5, 5, 50, 50]
    assert step(200, 50, 200) is None
