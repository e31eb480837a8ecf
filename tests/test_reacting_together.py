"""`tracking.services.reacting_together`: a page's request records several events, each written
at once, and the parts that react hear them all once, when the outermost block ends, inside the
same transaction; what is rolled back inside the block is neither in the log nor heard."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from yesladder.events import EventName
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.models import Event
from yesladder.tracking.services import reacting_together, record

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


@pytest.fixture
def lead_visitor():
    return Visitor.objects.create(lead=Lead.objects.create(email="ada@example.com"))


def moments(heard) -> list[tuple]:
    return [(m, [e.pk for e in w["events"]], inside) for m, w, inside in heard
            if m in ("recorded", "settled")]  # fmt: skip


def read_back(queries: CaptureQueriesContext) -> list[str]:
    """The block's end reading which held events are still in the log."""
    return [q["sql"] for q in queries if '"message_id" IN (' in q["sql"]]


def test_events_are_written_at_once_and_heard_together_at_the_end(heard, lead_visitor):
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), reacting_together():
        first = record(EventName.STEP_VIEWED, lead_visitor)
        assert Event.objects.filter(pk=first.pk).exists()  # later reads in the block see it
        second = record(EventName.CTA_CLICKED, lead_visitor)
        assert moments(heard) == []  # nothing heard before the block ends
    both = [first.pk, second.pk]
    assert moments(heard) == [("recorded", both, True), ("settled", both, True)]
    assert read_back(queries) == []  # written at the block's own level: nothing to check


def test_a_block_inside_a_block_leaves_the_hearing_to_the_outer_one(heard, lead_visitor):
    with transaction.atomic(), reacting_together():
        first = record(EventName.STEP_VIEWED, lead_visitor)
        with reacting_together():
            second = record(EventName.OPTED_IN, lead_visitor)
        assert moments(heard) == []  # the inner block's end is not the request's end
        third = record(EventName.STEP_COMPLETED, lead_visitor)
    every = [first.pk, second.pk, third.pk]
    assert moments(heard) == [("recorded", every, True), ("settled", every, True)]

    heard.clear()  # after the block, an event is heard at once, on its own
    alone = record(EventName.TRACKED, lead_visitor)
    assert moments(heard) == [("recorded", [alone.pk], True), ("settled", [alone.pk], True)]


def test_a_rollback_through_the_block_leaves_no_rows_and_nothing_heard(heard, lead_visitor):
    with pytest.raises(Boom), transaction.atomic(), reacting_together():
        record(EventName.STEP_VIEWED, lead_visitor)
        record(EventName.OPTED_IN, lead_visitor)
        raise Boom
    assert not Event.objects.exists() and moments(heard) == []

    # the block is closed: the next request's events are heard at once again
    kept = record(EventName.TRACKED, lead_visitor)
    assert moments(heard) == [("recorded", [kept.pk], True), ("settled", [kept.pk], True)]


def test_a_part_rolled_back_inside_the_block_is_not_heard(heard, lead_visitor):
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), reacting_together():
        kept = record(EventName.STEP_VIEWED, lead_visitor)
        with pytest.raises(Boom), transaction.atomic():  # e.g. a form's write that failed
            record(EventName.OPTED_IN, lead_visitor)
            raise Boom
        with transaction.atomic():  # a part that succeeded keeps its event
            also = record(EventName.OPTED_IN, lead_visitor)
    both = [kept.pk, also.pk]
    assert sorted(Event.objects.values_list("pk", flat=True)) == both
    assert moments(heard) == [("recorded", both, True), ("settled", both, True)]
    assert len(read_back(queries)) == 1  # written inside a savepoint: checked once


def test_an_event_whose_insert_failed_is_not_heard(heard, lead_visitor):
    with transaction.atomic(), reacting_together():
        kept = record(EventName.TRACKED, lead_visitor, message_id="m-1")
        with pytest.raises(IntegrityError), transaction.atomic():  # a replay, caught
            record(EventName.TRACKED, lead_visitor, message_id="m-1")
    assert moments(heard) == [("recorded", [kept.pk], True), ("settled", [kept.pk], True)]
