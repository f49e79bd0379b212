"""`make stats`'s table."""

from counter.cli import table


def test_table_lists_replicas_by_share_with_the_total():
    text = table({"total": 4, "replicas": {"b": 1, "a": 3}})
    assert text.splitlines() == [
        "replica  requests   share",
        "-------------------------",
        "a               3   75.0%",
        "b               1   25.0%",
        "-------------------------",
        "total           4  100.0%",
    ]


def test_table_of_an_empty_counter():
    assert table({"total": 0, "replicas": {}}).splitlines()[-1] == "total           0      -"
