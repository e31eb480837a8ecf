"""One shipper at a time, without holding any transaction or lock the site needs.

Shipping used to hold the checkpoint's row lock (and so, on SQLite, the database's one write
lock) while it inserted into ClickHouse: a frozen shard stopped every page that writes. Now a
shipper (the worker's round, `clickhouse sync`, `sync --from-scratch`) first takes the
*shipping turn*, a lock no page ever asks for, and holds no transaction while it talks to
ClickHouse:

- on SQLite, flock(2) on `shipping.lock` in the data directory (every process that opens the
  file is on this machine);
- on PostgreSQL, a session advisory lock (pg_try_advisory_lock), which blocks nothing but
  another shipper.

Both go with the process that holds them (a killed shipper leaves no stale turn behind). The
turn is what orders the streams and the erasures: the batches of one holder are in ClickHouse
before it asks the shards to delete an erased person's rows, and no other shipper can land an
older batch after that.
"""

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

ADVISORY_KEY = 0x79_6C_43_48  # "ylCH": one key for the whole store
POLL_SECONDS = 0.2


class Busy(RuntimeError):
    """Another shipper has the turn."""


@contextmanager
def shipping_turn(wait: float = 0) -> Iterator[None]:
    """Hold the shipping turn, waiting up to `wait` seconds for it; Busy when another shipper
    kept it that long."""
    deadline = time.monotonic() + wait
    if connection.vendor == "postgresql":
        while not _try_advisory():
            _pause_or_give_up(deadline)
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
        return
    path = settings.HOME / "shipping.lock"
    with open(path, "a") as held:
        while True:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _pause_or_give_up(deadline)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def _try_advisory() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
        return bool(cursor.fetchone()[0])


def _pause_or_give_up(deadline: float) -> None:
    if time.monotonic() >= deadline:
        raise Busy("another shipper is shipping to the ClickHouse store (the worker, or another "
                   "`yesladder clickhouse sync`); try again when it is done")  # fmt: skip
    time.sleep(POLL_SECONDS)
