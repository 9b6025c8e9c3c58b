"""Server stalls apart from client lateness: arrivals stamped during a stall of the server's loop."""

from __future__ import annotations

from engines.standins.truth import in_stalls


def test_arrivals_in_stalls() -> None:
    stalls = [[1_000, 5_000], [20_000, 21_000]]
    arrivals = [500, 1_000, 4_999, 5_050, 5_200, 20_500, 30_000]
    assert in_stalls(arrivals, stalls, slack_ns=100) == [False, True, True, True, False, True, False]
    assert in_stalls(arrivals, []) == [False] * len(arrivals)
