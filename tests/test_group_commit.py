"""The tracking API's group commit on SQLite (database.write_together): requests of one process
that wait for the writer are written by one thread in one transaction, each in a savepoint, so
one that fails fails alone and every other is committed before its caller goes on."""

import threading
import time

import pytest
from django.db import DatabaseError, connection

from yesladder import database
from yesladder.tracking.models import Site

pytestmark = pytest.mark.django_db(transaction=True)


def make_site(name: str, fail: bool = False) -> int:
    Site.objects.create(name=name)
    if fail:
        raise ValueError(f"{name} refused")
    return threading.get_ident()


def in_one_group(works: dict[str, object]) -> dict[str, object]:
    """Each work from its own thread, all queued while another write is under way."""
    results: dict[str, object] = {}

    def request(name: str, work) -> None:
        try:
            results[name] = database.write_together(work)
        except Exception as exc:
            results[name] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=item) for item in works.items()]
    with database._writer:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(database._waiting) < len(threads) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(database._waiting) == len(threads)
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_waiting_writes_go_in_one_group_and_a_failure_stays_alone(settings):
    if not settings.EMBEDDED:
        pytest.skip("PostgreSQL's writers run side by side: each has its own transaction")
    names = [f"site-{n}" for n in range(6)]
    results = in_one_group(
        {name: (lambda name=name: make_site(name, fail=name == "site-3")) for name in names}
    )

    assert isinstance(results["site-3"], ValueError)  # its own error, raised in its own thread
    writers = {results[n] for n in names if n != "site-3"}
    assert len(writers) == 1  # one thread wrote the whole group
    stored = set(Site.objects.values_list("name", flat=True))
    assert stored == set(names) - {"site-3"}  # its savepoint rolled back, nobody else's


def test_a_write_that_fails_alone_rolls_back_and_raises():
    with pytest.raises(ValueError, match="lonely refused"):
        database.write_together(lambda: make_site("lonely", fail=True))
    assert not Site.objects.filter(name="lonely").exists()
    assert database.write_together(lambda: make_site("next")) == threading.get_ident()
    assert Site.objects.filter(name="next").exists()


def break_the_transaction() -> None:
    Site.objects.create(name="breaker")
    with connection.cursor() as cursor:  # as SQLite does by itself on a full disk or I/O error
        cursor.execute("ROLLBACK")
    raise DatabaseError("disk I/O error")


def test_a_broken_transaction_fails_every_write_of_the_group(settings):
    if not settings.EMBEDDED:
        pytest.skip("PostgreSQL's writers run side by side: each has its own transaction")
    results = in_one_group(
        {
            "first": lambda: make_site("first"),
            "breaker": break_the_transaction,
            "last": lambda: make_site("last"),
        }  # fmt: skip
    )
    assert all(isinstance(answer, DatabaseError) for answer in results.values()), results
    assert not Site.objects.exists()  # nobody was told "written" for rows that are not there
