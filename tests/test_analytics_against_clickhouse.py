"""The climb counts exactly what ClickHouse's windowFunnel counts, on random event sets
(chdb, the embedded ClickHouse, is a test and benchmark dependency only)."""

import random
from collections import Counter

import pytest

from yesladder.analytics.climb import Hit, climb

chdb = pytest.importorskip("chdb")

RUNGS = 5


def clickhouse_levels(rows: list[tuple[int, int, int]], window: int) -> Counter:
    values = ",".join(f"({p},{t},{r})" for p, t, r in rows)
    conditions = ", ".join(f"rung = {i}" for i in range(RUNGS))
    result = chdb.query(
        f"SELECT level, count() FROM (SELECT person, windowFunnel({window})(t, {conditions}) "
        f"AS level FROM values('person UInt32, t UInt64, rung UInt8', {values}) "
        f"GROUP BY person) GROUP BY level ORDER BY level",
        "CSV",
    )
    found = Counter()
    for line in str(result).strip().splitlines():
        level, count = line.split(",")
        found[int(level)] = int(count)
    return found


def our_levels(rows: list[tuple[int, int, int]], window: int) -> Counter:
    people: dict[int, list[Hit]] = {}
    for person, at, rung in rows:
        people.setdefault(person, []).append(Hit(at, rung))
    return Counter(climb(hits, RUNGS, window).level for hits in people.values())


@pytest.mark.parametrize("seed", range(12))
def test_levels_match_windowfunnel_on_random_events(seed):
    rng = random.Random(seed)
    window = rng.choice([5, 50, 500])
    rows = [
        (rng.randrange(150), rng.randrange(1000 if seed % 2 else 60), rng.randrange(RUNGS))
        for _ in range(rng.randrange(200, 1500))
    ]  # narrow time ranges make many ties, the edge where orderings differ
    assert our_levels(rows, window) == clickhouse_levels(rows, window)
