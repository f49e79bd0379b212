"""The order `make bench` measures its points in: every point REPEAT times, the points that are
compared interleaved a turn at a time, so that the host's drift touches them alike."""

from control.bench import compared, under_sentinel


def test_the_compared_points_interleave_at_one_replica_and_each_repeats():
    names = [name for name, _, _, _ in compared([1, 2], 2)]
    assert names == (
        ["stack 1", "direct", "smallest"] * 2 + ["stack 2"] * 2 + ["lb static"] * 2 + ["tutorial"] * 2
    )
    turns = [(name, turn) for name, _, _, turn in compared([1, 2], 2)]
    assert turns[:6] == [(n, t) for t in (1, 2) for n in ("stack 1", "direct", "smallest")]


def test_each_point_says_its_kind_and_replica_count():
    assert set((name, kind, n) for name, kind, n, _ in compared([1, 3], 1)) == {
        ("stack 1", "stack", 1),
        ("direct", "direct", 1),
        ("smallest", "smallest", 1),
        ("stack 3", "stack", 3),
        ("lb static", "lb", 0),
        ("tutorial", "tutorial", 1),
    }


def test_the_sentinel_turns_start_over_tls_whose_rate_paces_the_other_two():
    assert list(under_sentinel(4, 2)) == [
        ("sentinel 4 tls", "tls", 1),
        ("sentinel 4", "clear", 1),
        ("sentinel 4 unacknowledged", "unacknowledged", 1),
        ("sentinel 4 tls", "tls", 2),
        ("sentinel 4", "clear", 2),
        ("sentinel 4 unacknowledged", "unacknowledged", 2),
    ]
