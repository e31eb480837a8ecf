"""What the shipper hears and reads from the primary database, without a ClickHouse server:
identity changes come from the event log's seam (reactions.STITCHED), once per change that
moves rows in ClickHouse, and only while a store is set up; the rows read with one statement
per batch are what the embedded engine counts (times to the µs, flags, revenue, people)."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from yesladder.events import EventName
from yesladder.leads.models import Lead
from yesladder.leads.services import new_visitor
from yesladder.tracking.identity import stitch
from yesladder.tracking.models import Event
from yesladder.tracking.services import record
from yesladder.warehouse.config import parse
from yesladder.warehouse.models import IdentityChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings):
    # Never reached: recording a change only asks whether a store is set up.
    settings.CLICKHOUSE = parse("clickhouse://127.0.0.1:9/nowhere")


def visitor():
    return new_visitor("Mozilla/5.0 (X11; Linux x86_64)", "https://e.com/", "", {})


def changes() -> list:
    return list(IdentityChange.objects.order_by("id").values_list("visitor_id", flat=True))


def test_a_visitor_joining_a_lead_is_one_identity_change(store):
    ada, bo = visitor(), visitor()
    record(EventName.TRACKED, ada)
    lead = Lead.objects.create(email="ada@example.com")
    stitch(ada, lead)
    stitch(bo, lead)  # no event yet: its first touch may still be the lead's
    assert changes() == [ada.pk, bo.pk]


def test_identified_again_by_the_same_lead_is_no_change(store):
    ada = visitor()
    record(EventName.TRACKED, ada)
    lead = Lead.objects.create(email="ada@example.com")
    stitch(ada, lead)
    record(EventName.TRACKED, ada)  # written with the lead already
    stitch(ada, lead)
    assert changes() == [ada.pk]


def test_anonymous_events_stitched_to_the_lead_it_has_are_a_change(store):
    """An event written while the visitor was still read as anonymous (a tracking batch racing
    the stitch) is stitched by the next identify: its copy in ClickHouse must follow."""
    ada = visitor()
    lead = Lead.objects.create(email="ada@example.com")
    stitch(ada, lead)
    late = record(EventName.TRACKED, ada)
    Event.objects.filter(pk=late.pk).update(lead=None)
    stitch(ada, lead)
    assert changes() == [ada.pk, ada.pk]


def test_no_store_no_changes_kept(settings):
    settings.CLICKHOUSE = None
    ada = visitor()
    record(EventName.TRACKED, ada)
    stitch(ada, Lead.objects.create(email="ada@example.com"))
    assert changes() == []


# --- what is read and sent -------------------------------------------------------------------


@pytest.fixture
def sent(store, monkeypatch):
    """What the shipper would insert, by table, without a server."""
    from yesladder.warehouse import shipping

    found = {}

    def insert(client, settings, sql, rows):
        table = re.search(r"INTO \w+\.(\w+?)(?:_local)? ", sql)[1]
        found.setdefault(table, []).extend(rows)

    monkeypatch.setattr(shipping, "insert", insert)
    monkeypatch.setattr(shipping, "check", lambda settings: ([settings], []))  # all answer
    monkeypatch.setattr(shipping.identity, "settle", lambda settings, servers: "")
    return found


def every_kind(version) -> tuple:
    """Events whose flags come from their name, and those whose properties are read (with
    values that count and values that do not), on a visitor with a lead and on one still
    anonymous; a bot's event, never shipped."""
    ada, bo = visitor(), new_visitor("Mozilla/5.0 (iPhone) Mobile", "", "", {"utm_source": "x"})
    kinds = [
        (EventName.STEP_VIEWED, "guide", {"any": 1}), (EventName.OPTED_IN, "checklist", {}),
        (EventName.FIELDS_GIVEN, "checklist", {"email": True}),
        (EventName.FIELDS_GIVEN, "checklist", {"email": "yes"}),
        (EventName.VIDEO_PROGRESS, "guide", {"percent": 80}),
        (EventName.VIDEO_PROGRESS, "guide", {"percent": 50}),
        (EventName.READ_PROGRESS, "guide", {"seconds": 301.5}),
        (EventName.PAID, "program", {"amount": 4700}), (EventName.PAID, "program", {"amount": "9"}),
        (EventName.REFUNDED, "program", {"amount": 795}), (EventName.TRACKED, "", {"amount": 5}),
        (EventName.QUIZ_COMPLETED, "score", {"score": 40, "tier": "leaky"}),
    ]  # fmt: skip
    at = dt.datetime(2026, 10, 5, 9, 0, 0, 123456, tzinfo=dt.UTC)
    stitch(ada, Lead.objects.create(email="ada@example.com"))
    for i, (name, step, props) in enumerate(kinds):
        for who in (ada, bo):
            record(name, who, version, step, props, occurred_at=at + dt.timedelta(seconds=i))
    record(EventName.TRACKED, new_visitor("curl/8.0", "", "", {}))
    return ada, bo


def test_events_are_sent_as_the_embedded_engine_counts_them(sent):
    from tests.conftest import funnel_dict, sourced_from
    from yesladder.analytics.devices import device_type
    from yesladder.analytics.progress import person_of
    from yesladder.analytics.rules import flags, micros, tier
    from yesladder.funnels.models import current_version
    from yesladder.funnels.services import load_funnel
    from yesladder.warehouse.shipping import Shipper

    load_funnel(sourced_from(funnel_dict()))
    version = current_version("clean")
    ada, bo = every_kind(version)
    Shipper(parse("clickhouse://127.0.0.1:9/nowhere"), settle=0).sync()
    events = list(Event.objects.filter(is_bot=False).select_related("visitor").order_by("id"))
    expected = []
    for e in events:
        v = e.visitor
        expected.append((version.funnel_id, person_of(e), e.pk, version.pk, v.pk.hex, e.name,
                         e.label, e.step_key, micros(e.occurred_at), *flags(e.name, e.properties),
                         v.utm_source, v.utm_medium, v.utm_campaign,
                         tier(e.name, e.properties) or ""))  # fmt: skip
    shipped = sent["events"][: len(expected)]  # then ada's again: it joined its lead
    assert [row[:-2] for row in shipped] == expected
    assert {row[-1] for row in shipped} == {0}
    assert {row[-3] for row in shipped} == {"", "leaky"}  # a scored result's tier, else none
    assert {(r[0], r[1], r[2], r[6]) for r in sent["identities"] if not r[-1]} == {
        (person_of(e), e.visitor.pk.hex, micros(e.visitor.created_at),
         device_type(e.visitor.user_agent)) for e in events
    }  # fmt: skip
    assert sum(r[11] for r in shipped) == 2 * (4700 - 795)
    assert sum(r[9] for r in shipped) == 4 and sum(r[10] for r in shipped) == 4
    sent.clear()  # bo joins a lead: its rows again under the lead, tombstones under bo
    stitch(bo, Lead.objects.create(email="bo@example.com"))
    Shipper(parse("clickhouse://127.0.0.1:9/nowhere"), settle=0).sync()
    bo.refresh_from_db()
    again = [(r[1], r[-1]) for r in sent["events"] if r[4] == bo.pk.hex]
    assert again == [(f"l{bo.lead_id}", 0), (f"v{bo.pk.hex}", 1)] * 12


def test_flags_of_every_other_event_come_from_its_name_alone():
    from yesladder.analytics.rules import PROPERTIES_READ, flags

    hostile = {"email": True, "percent": 100, "seconds": 10**6, "amount": 10**6}
    for name in set(EventName) - PROPERTIES_READ:
        assert flags(name, hostile) == flags(name, {}), name


def test_the_checkpoint_waits_for_rows_younger_than_the_settle_margin(store, sent):
    from yesladder.warehouse.models import Checkpoint
    from yesladder.warehouse.shipping import EVENTS, Shipper

    first, second = record(EventName.TRACKED, visitor()), record(EventName.TRACKED, visitor())
    old = timezone.now() - dt.timedelta(minutes=5)
    Event.objects.filter(pk=first.pk).update(received_at=old)
    Shipper(parse("clickhouse://127.0.0.1:9/nowhere"), settle=30).sync()
    assert len(sent["events"]) == 2  # both sent, the younger one again next time
    assert Checkpoint.objects.get(stream=EVENTS).position == first.pk
    Event.objects.filter(pk=second.pk).update(received_at=old)
    Shipper(parse("clickhouse://127.0.0.1:9/nowhere"), settle=30).sync()
    assert Checkpoint.objects.get(stream=EVENTS).position == second.pk


@pytest.mark.django_db(transaction=True)
def test_no_transaction_or_lock_is_held_while_clickhouse_is_asked(store, monkeypatch):
    """While rows travel to ClickHouse, the shipper holds nothing the site needs: another
    thread writes an event (and on SQLite takes the one writer's turn) at once."""
    import threading

    from django.db import connection, connections

    from yesladder.warehouse import shipping
    from yesladder.warehouse.shipping import Shipper

    record(EventName.TRACKED, visitor())
    seen = []

    def insert(client, settings, sql, rows):
        done = threading.Event()

        def write():
            record(EventName.TRACKED, visitor())
            connections.close_all()
            done.set()

        threading.Thread(target=write).start()
        seen.append((connection.in_atomic_block, done.wait(10)))

    monkeypatch.setattr(shipping, "insert", insert)
    monkeypatch.setattr(shipping, "check", lambda settings: ([settings], []))
    monkeypatch.setattr(shipping.identity, "settle", lambda settings, servers: "")
    Shipper(parse("clickhouse://127.0.0.1:9/nowhere"), settle=0).sync()
    assert seen and all(held is False and written for held, written in seen), seen
