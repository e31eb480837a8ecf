"""Threat 3: a device's wrong clock does not move its events (pure, no database)."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from yesladder.tracking.segment import occurred_at

RECEIVED = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
YEAR = 365 * 24 * 3600


@given(
    skew=st.integers(min_value=-YEAR, max_value=YEAR),
    waited=st.floats(min_value=0, max_value=3 * 24 * 3600),  # queued on the device this long
)
def test_skewed_clocks_are_corrected_within_a_second(skew, waited):
    happened = RECEIVED - dt.timedelta(seconds=waited)
    device = dt.timedelta(seconds=skew)  # how wrong the device's clock is
    when, flagged = occurred_at(RECEIVED, happened + device, RECEIVED + device)
    assert abs((when - happened).total_seconds()) < 1 and not flagged


def test_without_sent_at_the_timestamp_is_trusted():
    stamp = RECEIVED - dt.timedelta(hours=3)
    assert occurred_at(RECEIVED, stamp, None) == (stamp, False)


def test_without_a_timestamp_the_received_time_is_used():
    assert occurred_at(RECEIVED, None, None) == (RECEIVED, False)


def test_more_than_23_hours_ahead_is_flagged():
    ahead = RECEIVED + dt.timedelta(hours=23, seconds=1)
    assert occurred_at(RECEIVED, ahead, None) == (RECEIVED, True)
    near = RECEIVED + dt.timedelta(hours=22)
    assert occurred_at(RECEIVED, near, None) == (near, False)


def test_naive_times_are_read_as_utc():
    naive = dt.datetime(2026, 11, 21, 11, 0)
    assert occurred_at(RECEIVED, naive, None)[0] == naive.replace(tzinfo=dt.UTC)
