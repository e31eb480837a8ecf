"""An identify and an anonymous event of the same visitor written at the same moment, by two
requests: the event ends up the lead's whichever commits first (PostgreSQL, where writers run
side by side; SQLite takes one writer at a time)."""

import base64
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client

from yesladder.leads.models import Lead, Visitor
from yesladder.tracking import ingestion
from yesladder.tracking.identity import stitch
from yesladder.tracking.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one writer"),
]
PAUSE = 0.5  # long enough for the other side to reach the lock


def in_thread(work) -> threading.Thread:
    def run():
        try:
            work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def track(tracker, message_id: str):
    """A tracking call from a thread of its own (the test client is not shared)."""
    key = base64.b64encode(f"{tracker.key.key}:".encode()).decode()
    body = {"anonymousId": "anon-race", "event": "Clicked", "messageId": message_id}
    return Client().post("/v1/track", body, content_type="application/json",
                         HTTP_AUTHORIZATION=f"Basic {key}")  # fmt: skip


@pytest.fixture
def visitor(tracker):
    assert track(tracker, "first").status_code == 200
    return Visitor.objects.get(anonymous_id="anon-race")


def test_an_event_written_while_a_stitch_waits_to_commit_is_the_leads(tracker, visitor):
    lead = Lead.objects.create(email="race@example.com")
    stitched, release = threading.Event(), threading.Event()

    def identify_side():
        with transaction.atomic():
            stitch(Visitor.objects.get(pk=visitor.pk), lead)
            stitched.set()
            release.wait(10)

    identifying = in_thread(identify_side)
    stitched.wait(10)
    tracking = in_thread(lambda: track(tracker, "meanwhile"))
    time.sleep(PAUSE)  # the batch now waits for the stitch's lock on the visitor
    release.set()
    identifying.join(10)
    tracking.join(10)
    assert Event.objects.get(message_id__endswith=":meanwhile").lead_id == lead.pk


def test_a_stitch_while_a_batch_waits_to_commit_takes_its_events(tracker, visitor, monkeypatch):
    lead = Lead.objects.create(email="race@example.com")
    inserted, release = threading.Event(), threading.Event()
    first_of_each = ingestion._first_of_each

    def pause_before_commit(rows, new):
        inserted.set()
        release.wait(10)
        return first_of_each(rows, new)

    monkeypatch.setattr(ingestion, "_first_of_each", pause_before_commit)
    tracking = in_thread(lambda: track(tracker, "meanwhile"))
    inserted.wait(10)

    def identify_side():
        with transaction.atomic():
            stitch(Visitor.objects.get(pk=visitor.pk), lead)

    identifying = in_thread(identify_side)
    time.sleep(PAUSE)  # the stitch now waits for the batch's lock on the visitor
    release.set()
    tracking.join(10)
    identifying.join(10)
    assert Event.objects.get(message_id__endswith=":meanwhile").lead_id == lead.pk
